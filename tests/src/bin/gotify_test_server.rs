//! The Gotify test server (written from Gotify's public API docs; Gotify
//! itself cannot be installed here) as a process, for benchmarks that put
//! a peer client beside Chime: `gotify-test-server [CLIENT_TOKEN]` listens
//! on 127.0.0.1:0 with two applications and three messages, prints its
//! base URL on the first line, and runs until stdin closes.

use serde_json::json;

#[tokio::main]
async fn main() {
    let token = std::env::args().nth(1).unwrap_or_else(|| "Ctoken".into());
    let server = chime_e2e::push::GotifyServer::start(&token, &["Backups", "CI"]).await;
    for n in 1..=3 {
        server.publish(1, "nightly", &format!("backup {n} done"), 5, json!(null));
    }
    println!("{}", server.url());
    // Until whoever started it goes away.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink)
    })
    .await;
}
