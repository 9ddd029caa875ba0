//! QR codes of a device's wg-quick config, the format the WireGuard mobile apps scan ("Create from
//! QR code"): the config text itself, encoded as bytes.

use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};

/// The code, or why the text does not fit in one (a config with very many peers).
fn code(text: &str) -> Result<QrCode, String> {
    // Level L holds the most: a phone scans a screen, not a scratched sticker.
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L).map_err(|_| {
        format!(
            "the config ({} bytes) is too long for one QR code",
            text.len()
        )
    })
}

/// The code in half-height blocks for a terminal, light modules drawn as blocks, so it reads on
/// the usual dark background; with its quiet zone, which scanners need. `pin_colours` (for a
/// terminal, never a file) sets white on black explicitly, so the code is not inverted on a
/// terminal with a light background, which many scanners cannot read.
pub fn terminal(text: &str, pin_colours: bool) -> Result<String, String> {
    let code = code(text)?
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    let mut out = String::with_capacity(code.len() * 2);
    for line in code.lines() {
        if pin_colours {
            out.push_str(&format!("\u{1b}[97;40m{line}\u{1b}[0m\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The code as an SVG image.
pub fn svg(text: &str) -> Result<String, String> {
    Ok(code(text)?
        .render::<svg::Color>()
        .min_dimensions(320, 320)
        .quiet_zone(true)
        .build())
}

/// Pixels per module and quiet-zone modules of the PNG image: a phone camera reads it off a screen
/// or a printout at any size from there.
const PNG_SCALE: usize = 8;
const PNG_QUIET: usize = 4;

/// The code as a PNG image (8-bit greyscale, black modules on white, with its quiet zone).
pub fn png(text: &str) -> Result<Vec<u8>, String> {
    let code = code(text)?;
    let modules = code.width();
    let colours = code.to_colors();
    let side = (modules + 2 * PNG_QUIET) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (index, colour) in colours.iter().enumerate() {
        if *colour != qrcode::Color::Dark {
            continue;
        }
        let (x, y) = (index % modules + PNG_QUIET, index / modules + PNG_QUIET);
        for row in y * PNG_SCALE..(y + 1) * PNG_SCALE {
            pixels[row * side + x * PNG_SCALE..row * side + (x + 1) * PNG_SCALE].fill(0);
        }
    }
    let mut image = Vec::new();
    let side = u32::try_from(side).map_err(|_| "the QR code is too large".to_owned())?;
    let mut encoder = png::Encoder::new(&mut image, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|err| format!("cannot encode the PNG image: {err}"))?;
    writer
        .write_image_data(&pixels)
        .map_err(|err| format!("cannot encode the PNG image: {err}"))?;
    writer
        .finish()
        .map_err(|err| format!("cannot encode the PNG image: {err}"))?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_becomes_a_square_code_and_an_oversized_one_an_error() {
        let config = "[Interface]\nAddress = 100.64.0.2/24\n";
        let text = terminal(config, false).unwrap();
        assert!(!text.contains('\u{1b}'));
        let pinned = terminal(config, true).unwrap();
        assert!(
            pinned
                .lines()
                .all(|line| line.starts_with("\u{1b}[97;40m") && line.ends_with("\u{1b}[0m"))
        );
        let lines: Vec<&str> = text.lines().collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|line| line.chars().count() == width));
        // Two modules per character row (the last half empty for an odd size): the code is square.
        assert!(lines.len() * 2 - width <= 1, "{text}");
        assert!(svg(config).unwrap().starts_with("<?xml"));
        let too_long = "x".repeat(3000);
        assert_eq!(
            terminal(&too_long, false).unwrap_err(),
            "the config (3000 bytes) is too long for one QR code"
        );
    }

    /// The PNG decodes to the code's modules: every module's pixels dark exactly where the code is.
    #[test]
    fn the_png_image_holds_the_codes_modules() {
        let config = "[Interface]\nAddress = 100.64.0.2/24\n";
        let image = png(config).unwrap();
        let decoder = ::png::Decoder::new(std::io::Cursor::new(image));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        let code = code(config).unwrap();
        let modules = code.width();
        assert_eq!(info.width as usize, (modules + 2 * PNG_QUIET) * PNG_SCALE);
        assert_eq!(info.color_type, ::png::ColorType::Grayscale);
        let side = info.width as usize;
        for (index, colour) in code.to_colors().iter().enumerate() {
            let (x, y) = (index % modules + PNG_QUIET, index / modules + PNG_QUIET);
            // The centre pixel of the module.
            let pixel =
                pixels[(y * PNG_SCALE + PNG_SCALE / 2) * side + x * PNG_SCALE + PNG_SCALE / 2];
            assert_eq!(pixel == 0, *colour == qrcode::Color::Dark, "module {index}");
        }
        // The quiet zone is white.
        assert!(
            pixels[..side * PNG_QUIET * PNG_SCALE]
                .iter()
                .all(|&p| p == 255)
        );
    }
}
