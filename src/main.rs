fn main() {
    let path = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    match wgdeploy::inventory::load(&path) {
        Ok(inv) => println!("ok: {} hosts {:?}", inv.hosts.len(), inv.hosts.iter().map(|h| (h.name.to_string(), h.role, h.home)).collect::<Vec<_>>()),
        Err(e) => print!("{e}"),
    }
}
