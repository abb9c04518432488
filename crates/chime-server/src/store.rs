//! Where events and unread totals live: in memory (default) or in Redis
//! (several instances share one Redis and fan out through it).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chime_proto::jitter::Jitter;
use chime_proto::protocol::{Counts, Event, Kind, Target};
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
    #[serde(default)]
    counts: Counts,
    /// The user's event log is not the one its sessions were welcomed to
    /// (Redis was flushed, or an older snapshot restored): they must come
    /// back and learn the new epoch.
    #[serde(default)]
    reset: bool,
}

fn fresh_epoch() -> String {
    format!(
        "{:016x}",
        (Jitter::from_entropy().sample() * 2f64.powi(53)) as u64
    )
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
        let mut conn = ConnectionManager::new(client.clone()).await?;
        // Servers before per-user epochs kept one for all: users whose log
        // predates this version keep it, so their clients keep their place.
        let legacy: Option<String> = redis::cmd("GET")
            .arg("chime:epoch")
            .query_async(&mut conn)
            .await?;
        tokio::spawn(fanout_loop(client, hub));
        Ok(Store::Redis(RedisStore {
            conn,
            log_size: log_size.max(1),
            legacy_epoch: legacy.unwrap_or_default(),
        }))
    }

    /// The name of `user`'s event log (the native `welcome`): random per
    /// user and process in memory. In Redis it is kept with the log itself, per
    /// user: a flushed Redis has none, so the next one is new, and a log
    /// found behind a client's cursor is renamed ([`Store::rename_log`]).
    pub async fn epoch(&self, user: &str) -> Result<String, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.with_user(user, |u| u.epoch.clone())),
            Store::Redis(r) => r.epoch(user).await,
        }
    }

    /// A client of `user` has seen sequence numbers this log does not hold
    /// yet: the log went back (an older snapshot was restored, writes were
    /// lost), and numbers it hands out now would be taken for ones the
    /// client has seen. Give it a new epoch (if it is still `epoch`) and
    /// send every session of the user back to learn it. Returns whether
    /// the log was renamed. In memory a log never goes back.
    pub async fn rename_log(&self, user: &str, epoch: &str) -> Result<bool, StoreError> {
        match self {
            Store::Memory(_) => Ok(false),
            Store::Redis(r) => r.rename_log(user, epoch).await,
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
    /// The name of this user's log: one per user, as PROTOCOL.md says, so
    /// a client that switches accounts never takes one user's sequence
    /// numbers for another's.
    epoch: String,
    next_seq: u64,
    log: VecDeque<Arc<Event>>,
    unread: Counts,
}

impl Default for UserLog {
    fn default() -> Self {
        UserLog {
            epoch: fresh_epoch(),
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
                message: None,
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
    /// The one epoch of servers before per-user epochs ("" if none).
    legacy_epoch: String,
}

fn keys(user: &str) -> [String; 4] {
    [
        format!("chime:{{{user}}}:seq"),
        format!("chime:{{{user}}}:log"),
        format!("chime:{{{user}}}:unread"),
        format!("chime:{{{user}}}:epoch"),
    ]
}

/// The user's epoch, made if missing: the legacy one if the user's log
/// already exists (KEYS[1] seq, KEYS[2] epoch; ARGV[1] fresh, ARGV[2]
/// legacy, ARGV[3] user, ARGV[4] channel). Returns {epoch, made}.
const EPOCH_LUA: &str = r#"
local e = redis.call('GET', KEYS[2])
if e then return {e, 0} end
if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then
  e = ARGV[2]
else
  -- A new log (first use, or Redis was flushed): sessions welcomed to the
  -- old one must come back.
  e = ARGV[1]
  redis.call('PUBLISH', ARGV[4], cjson.encode({user = ARGV[3], reset = true}))
end
redis.call('SET', KEYS[2], e)
return {e, 1}
"#;

/// Rename the log if its epoch is still ARGV[1]; tell every instance.
const RENAME_LUA: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], cjson.encode({user = ARGV[3], reset = true}))
return 1
"#;

const COUNT_FIELDS: [&str; 3] = ["likes", "dislikes", "replies"];

fn count_field(kind: Kind) -> &'static str {
    match kind {
        Kind::Like => "likes",
        Kind::Dislike => "dislikes",
        Kind::Reply => "replies",
        Kind::Message => "messages",
    }
}

/// Assign the seq, append to the log, bump the total and fan out, atomically,
/// so every instance sees events and totals in one order.
const PUBLISH_LUA: &str = r#"
local made = false
if not redis.call('GET', KEYS[4]) then
  -- No epoch: the log is new (first event, or Redis was flushed).
  local e = ARGV[10]
  if ARGV[11] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then e = ARGV[11] else made = true end
  redis.call('SET', KEYS[4], e)
end
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '0-' .. seq,
  'kind', ARGV[2], 'actor', ARGV[3], 'title', ARGV[4], 'url', ARGV[5], 'time', ARGV[6])
redis.call('HINCRBY', KEYS[3], ARGV[7], 1)
local c = redis.call('HMGET', KEYS[3], 'likes', 'dislikes', 'replies')
local counts = {likes = tonumber(c[1]) or 0, dislikes = tonumber(c[2]) or 0, replies = tonumber(c[3]) or 0}
local event = {seq = seq, kind = ARGV[2], actor = ARGV[3],
  target = {title = ARGV[4], url = ARGV[5]}, time = tonumber(ARGV[6])}
redis.call('PUBLISH', ARGV[9], cjson.encode({user = ARGV[8], event = event, counts = counts, reset = made}))
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
    async fn epoch(&self, user: &str) -> Result<String, StoreError> {
        let [seq_key, _, _, epoch_key] = keys(user);
        let mut conn = self.conn.clone();
        let (epoch, _made): (String, u8) = redis::Script::new(EPOCH_LUA)
            .key(seq_key)
            .key(epoch_key)
            .arg(fresh_epoch())
            .arg(&self.legacy_epoch)
            .arg(user)
            .arg(FANOUT_CHANNEL)
            .invoke_async(&mut conn)
            .await?;
        Ok(epoch)
    }

    async fn rename_log(&self, user: &str, epoch: &str) -> Result<bool, StoreError> {
        let [_, _, _, epoch_key] = keys(user);
        let mut conn = self.conn.clone();
        let renamed: u8 = redis::Script::new(RENAME_LUA)
            .key(epoch_key)
            .arg(epoch)
            .arg(fresh_epoch())
            .arg(user)
            .arg(FANOUT_CHANNEL)
            .invoke_async(&mut conn)
            .await?;
        Ok(renamed == 1)
    }

    async fn publish(&self, new: NewEvent, time: i64) -> Result<u64, StoreError> {
        let [seq_key, log_key, unread_key, epoch_key] = keys(&new.user);
        let mut conn = self.conn.clone();
        let seq: u64 = redis::Script::new(PUBLISH_LUA)
            .key(seq_key)
            .key(log_key)
            .key(unread_key)
            .key(epoch_key)
            .arg(self.log_size)
            .arg(new.kind.as_str())
            .arg(&new.actor)
            .arg(&new.target.title)
            .arg(&new.target.url)
            .arg(time)
            .arg(count_field(new.kind))
            .arg(&new.user)
            .arg(FANOUT_CHANNEL)
            .arg(fresh_epoch())
            .arg(&self.legacy_epoch)
            .invoke_async(&mut conn)
            .await?;
        Ok(seq)
    }

    async fn read(&self, user: &str, kind: Option<Kind>) -> Result<Counts, StoreError> {
        let [_, _, unread_key, _] = keys(user);
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
            messages: 0,
        })
    }

    async fn counts(&self, user: &str) -> Result<Counts, StoreError> {
        let [_, _, unread_key, _] = keys(user);
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
            messages: 0,
        })
    }

    async fn replay(&self, user: &str, after: u64) -> Result<(Vec<Arc<Event>>, u64), StoreError> {
        let [seq_key, log_key, _, _] = keys(user);
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
        message: None,
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
///
/// A subscription that was lost may have missed publications: when it ends,
/// and again once it is back, every local session is sent back (close 1012)
/// to resume from its cursor, so nothing published in the gap is missed.
async fn fanout_loop(client: redis::Client, hub: Arc<Hub>) {
    use futures_util::StreamExt;
    let mut delay = std::time::Duration::from_millis(200);
    let mut first = true;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(FANOUT_CHANNEL).await {
                Ok(()) => {
                    info!("subscribed to redis fan-out");
                    if !std::mem::replace(&mut first, false) {
                        // Sessions that connected during the gap replayed
                        // before it closed: send them back once more.
                        hub.restart_all();
                    }
                    delay = std::time::Duration::from_millis(200);
                    let mut stream = pubsub.into_on_message();
                    while let Some(msg) = stream.next().await {
                        let payload: Vec<u8> = msg.get_payload_bytes().to_vec();
                        match serde_json::from_slice::<Fanout>(&payload) {
                            Ok(f) if f.reset => {
                                info!("a user's event log was renamed: their sessions resume");
                                hub.deliver(&f.user, Push::Reset);
                            }
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
                    warn!("redis fan-out subscription ended: sessions here resume");
                    hub.restart_all();
                }
                Err(e) => warn!("redis subscribe failed: {e}"),
            },
            Err(e) => warn!("redis pub/sub connection failed: {e}"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(5));
    }
}
