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
/// the usual dark background; with its quiet zone, which scanners need.
pub fn terminal(text: &str) -> Result<String, String> {
    let mut out = code(text)?
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    out.push('\n');
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_becomes_a_square_code_and_an_oversized_one_an_error() {
        let config = "[Interface]\nAddress = 100.64.0.2/24\n";
        let text = terminal(config).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|line| line.chars().count() == width));
        // Two modules per character row (the last half empty for an odd size): the code is square.
        assert!(lines.len() * 2 - width <= 1, "{text}");
        assert!(svg(config).unwrap().starts_with("<?xml"));
        let too_long = "x".repeat(3000);
        assert_eq!(
            terminal(&too_long).unwrap_err(),
            "the config (3000 bytes) is too long for one QR code"
        );
    }
}
