//! Live interfaces and peers shared by the tests of the host views and the model.

use crate::core::facts::{LiveInterface, LivePeer};

pub(super) fn peer(key: &str, handshake: u64, rx: u64, tx: u64) -> LivePeer {
    LivePeer {
        public_key: key.to_owned(),
        endpoint: Some("198.51.100.2:51820".to_owned()),
        allowed_ips: Vec::new(),
        latest_handshake: handshake,
        rx,
        tx,
        keepalive: None,
    }
}

pub(super) fn live(peers: Vec<LivePeer>) -> LiveInterface {
    LiveInterface {
        public_key: "SELF=".to_owned(),
        listen_port: Some(51820),
        peers,
        routes: None,
    }
}

pub(super) const NOW: u64 = 1_700_000_000;
