//! `--demo USER`: believable traffic so a new user sees Chime live.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chime_proto::jitter::Jitter;
use chime_proto::protocol::{Kind, Target};
use tracing::warn;

use crate::store::NewEvent;
use crate::AppState;

const ACTORS: &[&str] = &[
    "Alice", "Bob", "Chiara", "Dmitri", "Emeka", "Fatima", "Grace", "Hiroshi", "Ines", "José",
    "Kalani", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tamar",
];

const TITLES: &[&str] = &[
    "My first post",
    "Why I switched to a standing desk",
    "Sourdough, week three",
    "A gentle guide to Rust lifetimes",
    "Photos from the coast",
    "The best ramen in town?",
    "Thoughts on remote work",
    "Building a bird feeder",
    "Learning the cello at 40",
    "What I read in October",
];

pub fn post_title(id: u32) -> &'static str {
    TITLES[id as usize % TITLES.len()]
}

/// Publish events for `user` at about `per_minute`, with an occasional burst,
/// until the server shuts down.
pub async fn run(state: Arc<AppState>, base_url: String, user: String, per_minute: f64) {
    let mut rng = Jitter::from_entropy();
    let mean = Duration::from_secs_f64(60.0 / per_minute.max(0.1));
    let mut shutdown = state.shutdown.clone();
    loop {
        let wait = mean.mul_f64(0.3 + 1.4 * rng.sample());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            () = crate::stopped(&mut shutdown) => return,
        }
        let burst = if rng.sample() < 0.1 {
            3 + (rng.sample() * 6.0) as usize
        } else {
            1
        };
        let post = (rng.sample() * TITLES.len() as f64) as u32;
        for _ in 0..burst {
            let r = rng.sample();
            let kind = if r < 0.6 {
                Kind::Like
            } else if r < 0.85 {
                Kind::Reply
            } else {
                Kind::Dislike
            };
            let actor = ACTORS[(rng.sample() * ACTORS.len() as f64) as usize % ACTORS.len()];
            let new = NewEvent {
                user: user.clone(),
                kind,
                actor: actor.to_owned(),
                target: Target {
                    title: post_title(post).to_owned(),
                    url: format!("{base_url}/demo/posts/{post}"),
                },
            };
            match state.store.publish(&state.hub, new, crate::now_ms()).await {
                Ok(_) => {
                    state.metrics.published.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => warn!("demo publish failed: {e}"),
            }
        }
    }
}
