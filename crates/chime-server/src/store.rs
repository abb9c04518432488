//! Where events and unread totals live: in memory (default) or in Redis
//! (several instances share one Redis and fan out through it).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chime_core::policy::Jitter;
use chime_core::protocol::{Counts, Event, Kind, Target};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::hub::{Hub, Push};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("corrupt record in redis: {0}")]
    Corrupt(String),
}

/// An event before it has a sequence number.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct NewEvent {
    pub user: String,
    pub kind: Kind,
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub target: Target,
}

/// The channel every instance subscribes to when Redis is used.
const FANOUT_CHANNEL: &str = "chime:fanout";

#[derive(Serialize, Deserialize)]
struct Fanout {
    user: String,
    #[serde(default)]
    event: Option<Event>,
    counts: Counts,
}

pub enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Store {
    pub fn memory(log_size: usize) -> Store {
        Store::Memory(MemoryStore {
            log_size: log_size.max(1),
            users: Mutex::new(HashMap::new()),
        })
    }

    pub async fn redis(url: &str, log_size: usize, hub: Arc<Hub>) -> Result<Store, StoreError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client.clone()).await?;
        tokio::spawn(fanout_loop(client, hub));
        Ok(Store::Redis(RedisStore {
            conn,
            log_size: log_size.max(1),
        }))
    }

    /// The name of this event log: random per process in memory, shared by
    /// every instance (and kept across restarts) in Redis.
    pub async fn epoch(&self) -> Result<String, StoreError> {
        let fresh = format!(
            "{:016x}",
            (Jitter::from_entropy().sample() * 2f64.powi(53)) as u64
        );
        match self {
            Store::Memory(_) => Ok(fresh),
            Store::Redis(r) => {
                let mut conn = r.conn.clone();
                let _: Option<String> = redis::cmd("SET")
                    .arg("chime:epoch")
                    .arg(&fresh)
                    .arg("NX")
                    .query_async(&mut conn)
                    .await?;
                let epoch: Option<String> = redis::cmd("GET")
                    .arg("chime:epoch")
                    .query_async(&mut conn)
                    .await?;
                Ok(epoch.unwrap_or(fresh))
            }
        }
    }

    /// Store an event, give it the user's next sequence number, and deliver
    /// it (with the new totals) to every connected client of that user.
    pub async fn publish(&self, hub: &Hub, new: NewEvent, time: i64) -> Result<u64, StoreError> {
        match self {
            Store::Memory(m) => {
                let user = new.user.clone();
                let (event, counts) = m.publish(new, time);
                let seq = event.seq;
                hub.deliver(&user, Push::Event(event, counts));
                Ok(seq)
            }
            Store::Redis(r) => r.publish(new, time).await,
        }
    }

    /// Mark read (one kind or all) and tell the user's clients.
    pub async fn read(
        &self,
        hub: &Hub,
        user: &str,
        kind: Option<Kind>,
    ) -> Result<Counts, StoreError> {
        match self {
            Store::Memory(m) => {
                let counts = m.read(user, kind);
                hub.deliver(user, Push::Counts(counts));
                Ok(counts)
            }
            Store::Redis(r) => r.read(user, kind).await,
        }
    }

    pub async fn counts(&self, user: &str) -> Result<Counts, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.with_user(user, |u| u.unread)),
            Store::Redis(r) => r.counts(user).await,
        }
    }

    /// Events after `after` still held, oldest first, and the newest seq.
    pub async fn replay(
        &self,
        user: &str,
        after: u64,
    ) -> Result<(Vec<Arc<Event>>, u64), StoreError> {
        match self {
            Store::Memory(m) => Ok(m.with_user(user, |u| {
                let events = u.log.iter().filter(|e| e.seq > after).cloned().collect();
                (events, u.next_seq - 1)
            })),
            Store::Redis(r) => r.replay(user, after).await,
        }
    }
}

struct UserLog {
    next_seq: u64,
    log: VecDeque<Arc<Event>>,
    unread: Counts,
}

impl Default for UserLog {
    fn default() -> Self {
        UserLog {
            next_seq: 1,
            log: VecDeque::new(),
            unread: Counts::default(),
        }
    }
}

pub struct MemoryStore {
    log_size: usize,
    users: Mutex<HashMap<String, UserLog>>,
}

impl MemoryStore {
    fn with_user<R>(&self, user: &str, f: impl FnOnce(&mut UserLog) -> R) -> R {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = users.get_mut(user) {
            return f(u);
        }
        f(users.entry(user.to_owned()).or_default())
    }

    fn publish(&self, new: NewEvent, time: i64) -> (Arc<Event>, Counts) {
        let log_size = self.log_size;
        self.with_user(&new.user, |u| {
            let event = Arc::new(Event {
                seq: u.next_seq,
                kind: new.kind,
                actor: new.actor,
                target: new.target,
                time,
            });
            u.next_seq += 1;
            *u.unread.get_mut(new.kind) += 1;
            u.log.push_back(event.clone());
            while u.log.len() > log_size {
                u.log.pop_front();
            }
            (event, u.unread)
        })
    }

    fn read(&self, user: &str, kind: Option<Kind>) -> Counts {
        self.with_user(user, |u| {
            for k in Kind::ALL {
                if kind.is_none() || kind == Some(k) {
                    *u.unread.get_mut(k) = 0;
                }
            }
            u.unread
        })
    }
}

pub struct RedisStore {
    conn: ConnectionManager,
    log_size: usize,
}

fn keys(user: &str) -> [String; 3] {
    [
        format!("chime:{{{user}}}:seq"),
        format!("chime:{{{user}}}:log"),
        format!("chime:{{{user}}}:unread"),
    ]
}

const COUNT_FIELDS: [&str; 3] = ["likes", "dislikes", "replies"];

fn count_field(kind: Kind) -> &'static str {
    match kind {
        Kind::Like => "likes",
        Kind::Dislike => "dislikes",
        Kind::Reply => "replies",
    }
}

/// Assign the seq, append to the log, bump the total and fan out, atomically,
/// so every instance sees events and totals in one order.
const PUBLISH_LUA: &str = r#"
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '0-' .. seq,
  'kind', ARGV[2], 'actor', ARGV[3], 'title', ARGV[4], 'url', ARGV[5], 'time', ARGV[6])
redis.call('HINCRBY', KEYS[3], ARGV[7], 1)
local c = redis.call('HMGET', KEYS[3], 'likes', 'dislikes', 'replies')
local counts = {likes = tonumber(c[1]) or 0, dislikes = tonumber(c[2]) or 0, replies = tonumber(c[3]) or 0}
local event = {seq = seq, kind = ARGV[2], actor = ARGV[3],
  target = {title = ARGV[4], url = ARGV[5]}, time = tonumber(ARGV[6])}
redis.call('PUBLISH', ARGV[9], cjson.encode({user = ARGV[8], event = event, counts = counts}))
return seq
"#;

const READ_LUA: &str = r#"
for i = 2, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], 0) end
local c = redis.call('HMGET', KEYS[1], 'likes', 'dislikes', 'replies')
local counts = {likes = tonumber(c[1]) or 0, dislikes = tonumber(c[2]) or 0, replies = tonumber(c[3]) or 0}
redis.call('PUBLISH', KEYS[2], cjson.encode({user = ARGV[1], counts = counts}))
return {counts.likes, counts.dislikes, counts.replies}
"#;

impl RedisStore {
    async fn publish(&self, new: NewEvent, time: i64) -> Result<u64, StoreError> {
        let [seq_key, log_key, unread_key] = keys(&new.user);
        let mut conn = self.conn.clone();
        let seq: u64 = redis::Script::new(PUBLISH_LUA)
            .key(seq_key)
            .key(log_key)
            .key(unread_key)
            .arg(self.log_size)
            .arg(new.kind.as_str())
            .arg(&new.actor)
            .arg(&new.target.title)
            .arg(&new.target.url)
            .arg(time)
            .arg(count_field(new.kind))
            .arg(&new.user)
            .arg(FANOUT_CHANNEL)
            .invoke_async(&mut conn)
            .await?;
        Ok(seq)
    }

    async fn read(&self, user: &str, kind: Option<Kind>) -> Result<Counts, StoreError> {
        let [_, _, unread_key] = keys(user);
        let mut conn = self.conn.clone();
        let script = redis::Script::new(READ_LUA);
        let mut inv = script.key(unread_key);
        inv.key(FANOUT_CHANNEL).arg(user);
        for k in Kind::ALL {
            if kind.is_none() || kind == Some(k) {
                inv.arg(count_field(k));
            }
        }
        let (likes, dislikes, replies): (u64, u64, u64) = inv.invoke_async(&mut conn).await?;
        Ok(Counts {
            likes,
            dislikes,
            replies,
        })
    }

    async fn counts(&self, user: &str) -> Result<Counts, StoreError> {
        let [_, _, unread_key] = keys(user);
        let mut conn = self.conn.clone();
        let vals: Vec<Option<u64>> = redis::cmd("HMGET")
            .arg(unread_key)
            .arg(&COUNT_FIELDS[..])
            .query_async(&mut conn)
            .await?;
        let get = |i: usize| vals.get(i).copied().flatten().unwrap_or(0);
        Ok(Counts {
            likes: get(0),
            dislikes: get(1),
            replies: get(2),
        })
    }

    async fn replay(&self, user: &str, after: u64) -> Result<(Vec<Arc<Event>>, u64), StoreError> {
        let [seq_key, log_key, _] = keys(user);
        let mut conn = self.conn.clone();
        let last: Option<u64> = redis::cmd("GET")
            .arg(&seq_key)
            .query_async(&mut conn)
            .await?;
        let rows: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(&log_key)
            .arg(format!("(0-{after}"))
            .arg("+")
            .query_async(&mut conn)
            .await?;
        let mut events = Vec::with_capacity(rows.len());
        for (id, fields) in rows {
            events.push(Arc::new(event_from_row(&id, fields)?));
        }
        Ok((events, last.unwrap_or(0)))
    }
}

fn event_from_row(id: &str, fields: Vec<(String, String)>) -> Result<Event, StoreError> {
    let corrupt = || StoreError::Corrupt(id.to_owned());
    let seq = id
        .strip_prefix("0-")
        .and_then(|s| s.parse().ok())
        .ok_or_else(corrupt)?;
    let mut event = Event {
        seq,
        kind: Kind::Like,
        actor: String::new(),
        target: Target::default(),
        time: 0,
    };
    for (k, v) in fields {
        match k.as_str() {
            "kind" => event.kind = Kind::parse(&v).ok_or_else(corrupt)?,
            "actor" => event.actor = v,
            "title" => event.target.title = v,
            "url" => event.target.url = v,
            "time" => event.time = v.parse().map_err(|_| corrupt())?,
            _ => {}
        }
    }
    Ok(event)
}

/// Receive every instance's publications and deliver them locally. Resubscribes
/// with a backoff when Redis goes away.
async fn fanout_loop(client: redis::Client, hub: Arc<Hub>) {
    use futures_util::StreamExt;
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(FANOUT_CHANNEL).await {
                Ok(()) => {
                    info!("subscribed to redis fan-out");
                    delay = std::time::Duration::from_millis(200);
                    let mut stream = pubsub.into_on_message();
                    while let Some(msg) = stream.next().await {
                        let payload: Vec<u8> = msg.get_payload_bytes().to_vec();
                        match serde_json::from_slice::<Fanout>(&payload) {
                            Ok(f) => {
                                let push = match f.event {
                                    Some(e) => Push::Event(Arc::new(e), f.counts),
                                    None => Push::Counts(f.counts),
                                };
                                hub.deliver(&f.user, push);
                            }
                            Err(e) => warn!("ignoring a malformed fan-out message: {e}"),
                        }
                    }
                    warn!("redis fan-out subscription ended");
                }
                Err(e) => warn!("redis subscribe failed: {e}"),
            },
            Err(e) => warn!("redis pub/sub connection failed: {e}"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(5));
    }
}
