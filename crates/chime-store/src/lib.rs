//! The local inbox: recent items and the resume state, in one SQLite file.
//!
//! Items and the [`InboxState`] they advance are written in one transaction,
//! so after a crash the cursor never points past an item that was not kept,
//! and an item that was kept is never announced again: [`Store::record`]
//! returns only the items it had not seen (a UNIQUE key per event).

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use chime_engine::inbox::{InboxState, NewItem};
use chime_proto::protocol::{Event, Kind};

/// Rows kept; beyond it the oldest read rows go first, then the oldest.
pub const DEFAULT_CAP: usize = 5000;

const SCHEMA: i64 = 4;

/// The source of rows and resume states from before there were several
/// (and of apps that watch one).
pub const DEFAULT_SOURCE: &str = "default";

/// The columns [`row`] reads, in its order.
const ROW_COLUMNS: &str = "id, kind, actor, title, url, time, read, source, body, extra";

/// The items table of schema 3: every key is scoped by its source.
const ITEMS_V3: &str = "(
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    time INTEGER NOT NULL,
    read INTEGER NOT NULL DEFAULT 0,
    content TEXT,
    body TEXT NOT NULL DEFAULT '',
    extra TEXT,
    UNIQUE (source, key)
)";

/// Which rows a window lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    pub source: Option<&'a str>,
    pub kind: Option<Kind>,
    /// Rows whose title or actor contain this (case-insensitive for ASCII).
    pub text: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the inbox at {path}: {problem}")]
    Open { path: String, problem: String },
    #[error("the inbox was written by a newer Chime (schema {0})")]
    Newer(i64),
    #[error("inbox database: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// One inbox row, as the inbox window shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub id: i64,
    pub kind: Kind,
    /// Who did it (native), empty for seed rows.
    pub actor: String,
    /// What it was about (native), or "3 new likes" (seed).
    pub title: String,
    pub url: String,
    /// Unix milliseconds: the server's time, else when it arrived.
    pub time: i64,
    pub read: bool,
    /// The source (see [`DEFAULT_SOURCE`]).
    pub source: String,
    /// A message's text (plain, or Markdown when `message.markdown`).
    pub body: String,
    /// A message's priority, tags, links (`None` for site events).
    pub message: Option<chime_proto::protocol::Message>,
    /// The emoji of its tags that are known shortcodes (ntfy's way).
    pub emoji: String,
}

pub struct Store {
    conn: Connection,
    cap: usize,
    /// Per source: the server (and account) its resume state belongs to.
    servers: std::collections::HashMap<String, String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("cap", &self.cap).finish()
    }
}

impl Store {
    /// Open (or create) the inbox file, in WAL mode.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |problem: String| StoreError::Open {
            path: path.display().to_string(),
            problem,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        // WAL + NORMAL: a killed process loses nothing that was committed;
        // a power cut may lose the last commits but never corrupts the file.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| open_err(e.to_string()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(2))?;
        Store::init(conn)
    }

    /// A store that lives only as long as the process (when the data
    /// directory cannot be written).
    pub fn in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA {
            return Err(StoreError::Newer(version));
        }
        let has_items = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'items'")?
            .exists([])?;
        if has_items && version < 3 {
            migrate_to_v3(&mut conn)?;
        }
        let has_body = conn
            .prepare("SELECT 1 FROM pragma_table_info('items') WHERE name = 'body'")?
            .exists([])?;
        if has_items && !has_body {
            // Schema 4: messages (body, and priority/tags/links as JSON).
            let tx = conn.transaction()?;
            tx.execute_batch(
                "ALTER TABLE items ADD COLUMN body TEXT NOT NULL DEFAULT '';
                 ALTER TABLE items ADD COLUMN extra TEXT;
                 PRAGMA user_version = 4;",
            )?;
            tx.commit()?;
        }
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS items {ITEMS_V3};
            CREATE INDEX IF NOT EXISTS items_time ON items (time, id);
            CREATE INDEX IF NOT EXISTS items_kind ON items (kind, time, id);
            CREATE INDEX IF NOT EXISTS items_source ON items (source, time, id);
            -- The pruning order: read rows first, oldest first.
            CREATE INDEX IF NOT EXISTS items_prune ON items (read DESC, time, id);
            -- What an event says, as a second key (see `content_key`).
            CREATE UNIQUE INDEX IF NOT EXISTS items_content ON items (source, content)
                WHERE content IS NOT NULL;
            CREATE TABLE IF NOT EXISTS cursors (
                source TEXT PRIMARY KEY,
                server TEXT NOT NULL,
                state TEXT NOT NULL
            );
            PRAGMA user_version = {SCHEMA};"
        ))?;
        Ok(Store {
            conn,
            cap: DEFAULT_CAP,
            servers: std::collections::HashMap::new(),
        })
    }

    pub fn with_cap(mut self, cap: usize) -> Store {
        self.cap = cap.max(1);
        self
    }

    /// Resume `source` from `server`: the state last recorded for it (the
    /// default when none, when it was another server's or account's, or
    /// unreadable). Later records of `source` belong to `server`.
    pub fn resume(&mut self, source: &str, server: &str) -> Result<InboxState, StoreError> {
        self.resume_or(source, server, &[])
    }

    /// As [`Store::resume`], also taking a state recorded under one of
    /// `earlier` (names an older Chime used for the same server and
    /// account); later records are under `server`.
    pub fn resume_or(
        &mut self,
        source: &str,
        server: &str,
        earlier: &[&str],
    ) -> Result<InboxState, StoreError> {
        self.servers.insert(source.to_owned(), server.to_owned());
        self.cursor(source, |s| s == server || earlier.contains(&s))
    }

    /// The resume state last recorded for `source` and its current server.
    pub fn state(&self, source: &str) -> Result<InboxState, StoreError> {
        let server = self.servers.get(source).cloned().unwrap_or_default();
        self.cursor(source, |s| s == server)
    }

    /// `source`'s stored resume state if `belongs` takes the server it was
    /// recorded for (else, or unreadable, the default).
    fn cursor(
        &self,
        source: &str,
        belongs: impl Fn(&str) -> bool,
    ) -> Result<InboxState, StoreError> {
        let found: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT server, state FROM cursors WHERE source = ?1",
                params![source],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(found
            .filter(|(s, _)| belongs(s))
            .and_then(|(_, t)| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }

    /// Keep `items` and the resume `state` that covers them, atomically.
    /// Returns the items that were new to the store, in order: the ones
    /// to announce.
    pub fn record(
        &mut self,
        source: &str,
        items: &[NewItem],
        state: &InboxState,
        now_ms: i64,
    ) -> Result<Vec<NewItem>, StoreError> {
        let server = self.servers.get(source).cloned().unwrap_or_default();
        let tx = self.conn.transaction()?;
        let mut fresh = Vec::new();
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO items
                   (source, key, kind, actor, title, url, time, read, content, body, extra)
                 VALUES (?8, ?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?9, ?10)",
            )?;
            for (n, item) in items.iter().enumerate() {
                let content = content_key(item, now_ms);
                let (body, extra) = match item {
                    NewItem::Event(Event {
                        message: Some(m), ..
                    }) => {
                        let mut rest = (**m).clone();
                        let body = std::mem::take(&mut rest.body);
                        (body, serde_json::to_string(&rest).ok())
                    }
                    _ => (String::new(), None),
                };
                let (key, actor, title, url, time) = match item {
                    NewItem::Event(e) => (
                        match e.message.as_deref() {
                            // A push service's own id is the message;
                            // a sequence's versions share one row.
                            Some(m) if !m.id.is_empty() => format!("msg:{}", m.key()),
                            _ => format!("{}:{}", state.epoch.as_deref().unwrap_or(""), e.seq),
                        },
                        e.actor.as_str(),
                        e.target.title.clone(),
                        e.target.url.as_str(),
                        sane_time(e.time, now_ms),
                    ),
                    NewItem::Bump { kind, by, total } => (
                        // A seed total can fall and rise again: the time
                        // and position keep each rise its own row.
                        format!("seed:{}:{total}:{now_ms}:{n}", kind.as_str()),
                        "",
                        format!("{by} new {}", kind.noun(*by)),
                        "",
                        now_ms,
                    ),
                };
                let added = insert.execute(params![
                    key,
                    item.kind().as_str(),
                    actor,
                    title,
                    url,
                    time,
                    content,
                    source,
                    body,
                    extra
                ])?;
                if added > 0 {
                    fresh.push(item.clone());
                } else if let NewItem::Event(Event {
                    message: Some(m), ..
                }) = item
                {
                    // A new version of a sequence: the row changes in
                    // place (its read state stays), and is announced.
                    if !m.sequence.is_empty() {
                        let changed = tx.execute(
                            "UPDATE items SET actor = ?3, title = ?4, url = ?5, time = ?6,
                                              body = ?7, extra = ?8
                             WHERE source = ?1 AND key = ?2
                               AND IFNULL(json_extract(extra, '$.id'), '') != ?9",
                            params![source, key, actor, title, url, time, body, extra, m.id],
                        )?;
                        if changed > 0 {
                            fresh.push(item.clone());
                        }
                    }
                }
            }
        }
        let json = serde_json::to_string(state).unwrap_or_default();
        tx.execute(
            "INSERT INTO cursors (source, server, state) VALUES (?1, ?2, ?3)
             ON CONFLICT (source) DO UPDATE SET server = excluded.server, state = excluded.state",
            params![source, server, json],
        )?;
        if !fresh.is_empty() {
            prune(&tx, self.cap, source)?;
        }
        tx.commit()?;
        Ok(fresh)
    }

    /// Newest first, of the rows `filter` lets through.
    pub fn list(&self, filter: &Filter<'_>, limit: usize) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM items
             WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR source = ?2)
               AND (?3 IS NULL OR title LIKE ?3 ESCAPE '\\' OR actor LIKE ?3 ESCAPE '\\'
                    OR body LIKE ?3 ESCAPE '\\')
             ORDER BY time DESC, id DESC LIMIT ?4"
        ))?;
        let pattern = filter
            .text
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                let escaped = t
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                format!("%{escaped}%")
            });
        let rows = stmt
            .query_map(
                params![
                    filter.kind.map(Kind::as_str),
                    filter.source,
                    pattern,
                    limit.min(i64::MAX as usize) as i64
                ],
                row,
            )?
            .filter_map(Result::ok)
            .flatten()
            .collect();
        Ok(rows)
    }

    pub fn get(&self, id: i64) -> Result<Option<Row>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {ROW_COLUMNS} FROM items WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()?
            .flatten())
    }

    /// Mark one row read; returns it (as it was before).
    pub fn mark_read(&mut self, id: i64) -> Result<Option<Row>, StoreError> {
        let found = self.get(id)?;
        if found.is_some() {
            self.conn
                .execute("UPDATE items SET read = 1 WHERE id = ?1", params![id])?;
        }
        Ok(found)
    }

    /// Mark every row of `kind` (or all) of `source` (or every source)
    /// read; returns how many changed.
    pub fn mark_kind_read(
        &mut self,
        source: Option<&str>,
        kind: Option<Kind>,
    ) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE items SET read = 1
             WHERE read = 0 AND (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR source = ?2)",
            params![kind.map(Kind::as_str), source],
        )?)
    }

    /// The server ids of `source`'s unread messages — all of them, or the
    /// one of row `row` — before they are marked read (to delete them on a
    /// server that is to forget what was read).
    pub fn unread_message_ids(
        &self,
        source: &str,
        row: Option<i64>,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key FROM items WHERE source = ?1 AND read = 0 AND kind = 'message'
               AND key LIKE 'msg:%' AND (?2 IS NULL OR id = ?2)",
        )?;
        let ids = stmt
            .query_map(params![source, row], |r| r.get::<_, String>(0))?
            .filter_map(Result::ok)
            .filter_map(|k| k.strip_prefix("msg:").map(str::to_owned))
            .collect();
        Ok(ids)
    }

    /// The server withdrew the notifications `keys` (`Message::key`) of
    /// `source`: their rows are marked read, or with `delete` removed.
    /// Returns the kind of each row that was unread.
    pub fn withdraw(
        &mut self,
        source: &str,
        keys: &[String],
        delete: bool,
    ) -> Result<Vec<Kind>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut unread = Vec::new();
        for k in keys {
            let key = format!("msg:{k}");
            let was: Option<(String, bool)> = tx
                .query_row(
                    "SELECT kind, read FROM items WHERE source = ?1 AND key = ?2",
                    params![source, key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((kind, read)) = was else {
                continue;
            };
            if delete {
                tx.execute(
                    "DELETE FROM items WHERE source = ?1 AND key = ?2",
                    params![source, key],
                )?;
            } else {
                tx.execute(
                    "UPDATE items SET read = 1 WHERE source = ?1 AND key = ?2",
                    params![source, key],
                )?;
            }
            if !read {
                unread.extend(Kind::parse(&kind));
            }
        }
        tx.commit()?;
        Ok(unread)
    }

    /// Unread rows of `kind` of `source` (or every source).
    pub fn unread(&self, source: Option<&str>, kind: Kind) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM items
             WHERE read = 0 AND kind = ?1 AND (?2 IS NULL OR source = ?2)",
            params![kind.as_str(), source],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// Forget a source: its rows and its resume state. Returns the rows
    /// removed.
    pub fn remove_source(&mut self, source: &str) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let n = tx.execute("DELETE FROM items WHERE source = ?1", params![source])?;
        tx.execute("DELETE FROM cursors WHERE source = ?1", params![source])?;
        tx.commit()?;
        self.servers.remove(source);
        Ok(n)
    }

    pub fn len(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))?;
        Ok(n.max(0) as usize)
    }

    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

/// 2000-01-01T00:00:00Z in Unix milliseconds.
const Y2000_MS: i64 = 946_684_800_000;
/// How far ahead of this machine's clock a server's time may be.
const MAX_AHEAD_MS: i64 = 86_400_000;

/// The server's time for an event if it is plausible (after 2000, at most
/// a day ahead), else when it arrived: a time in seconds, nanoseconds or
/// the far future would sort an event first forever, and break windows
/// that format it.
pub fn sane_time(time: i64, now_ms: i64) -> i64 {
    if (Y2000_MS..=now_ms.saturating_add(MAX_AHEAD_MS)).contains(&time) {
        time
    } else {
        now_ms
    }
}

/// An event's second key: what it says and when the server says it
/// happened. When a server's log is renamed (a new epoch after a restored
/// snapshot), the events it still holds are replayed under new numbers;
/// this key knows them again, so they are neither stored nor announced
/// twice. Only events with a plausible server time have one.
fn content_key(item: &NewItem, now_ms: i64) -> Option<String> {
    let NewItem::Event(e) = item else {
        return None;
    };
    // A message with its server's id needs no second key (two equal
    // messages in one second are two messages).
    if e.message.as_ref().is_some_and(|m| !m.id.is_empty()) {
        return None;
    }
    if e.time <= 0 || sane_time(e.time, now_ms) != e.time {
        return None;
    }
    Some(format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        e.kind.as_str(),
        e.actor,
        e.target.title,
        e.target.url,
        e.time
    ))
}

/// A row, or `None` for one whose kind this version does not know.
fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Row>> {
    let kind: String = r.get(1)?;
    let Some(kind) = Kind::parse(&kind) else {
        return Ok(None);
    };
    let message: Option<chime_proto::protocol::Message> = r
        .get::<_, Option<String>>(9)?
        .and_then(|x| serde_json::from_str::<chime_proto::protocol::Message>(&x).ok())
        .map(|m| m.cleaned());
    let emoji = message
        .as_ref()
        .map(|m| {
            m.tags
                .iter()
                .filter_map(|t| chime_proto::markup::shortcode(t))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Row {
        id: r.get(0)?,
        kind,
        actor: r.get(2)?,
        title: r.get(3)?,
        url: r.get(4)?,
        time: r.get(5)?,
        read: r.get::<_, i64>(6)? != 0,
        source: r.get(7)?,
        body: r.get(8)?,
        message,
        emoji,
    }))
}

/// Schemas 1 and 2 to 3: rows and the one resume state become the default
/// source's, and keys are scoped by source (a table rebuild: SQLite cannot
/// change a UNIQUE constraint in place). One transaction: a crash leaves
/// the old file as it was.
fn migrate_to_v3(conn: &mut Connection) -> Result<(), StoreError> {
    let has_content = conn
        .prepare("SELECT 1 FROM pragma_table_info('items') WHERE name = 'content'")?
        .exists([])?;
    let has_resume = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'resume'")?
        .exists([])?;
    let tx = conn.transaction()?;
    tx.execute_batch(&format!("CREATE TABLE items_v3 {ITEMS_V3};"))?;
    let content = if has_content { "content" } else { "NULL" };
    tx.execute(
        &format!(
            "INSERT INTO items_v3 (id, source, key, kind, actor, title, url, time, read, content)
             SELECT id, ?1, key, kind, actor, title, url, time, read, {content} FROM items"
        ),
        params![DEFAULT_SOURCE],
    )?;
    tx.execute_batch(
        "DROP TABLE items;
         ALTER TABLE items_v3 RENAME TO items;
         CREATE TABLE IF NOT EXISTS cursors (
             source TEXT PRIMARY KEY,
             server TEXT NOT NULL,
             state TEXT NOT NULL
         );",
    )?;
    if has_resume {
        tx.execute(
            "INSERT OR IGNORE INTO cursors (source, server, state)
             SELECT ?1, server, state FROM resume WHERE id = 1",
            params![DEFAULT_SOURCE],
        )?;
        tx.execute_batch("DROP TABLE resume;")?;
    }
    tx.execute_batch("PRAGMA user_version = 3;")?;
    tx.commit()?;
    Ok(())
}

/// Keep at most `cap` rows: read rows go first (oldest first, whoever they
/// belong to), then the unread rows of `source`, the one whose batch just
/// came in: a busy source never evicts a quiet one's unread rows. Only if
/// the other sources' unread rows alone exceed the cap do their oldest go.
fn prune(tx: &rusqlite::Transaction<'_>, cap: usize, source: &str) -> Result<(), StoreError> {
    let n: i64 = tx.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))?;
    let mut excess = n - cap as i64;
    if excess <= 0 {
        return Ok(());
    }
    excess -= tx.execute(
        "DELETE FROM items WHERE id IN (
            SELECT id FROM items WHERE read = 1 ORDER BY time ASC, id ASC LIMIT ?1)",
        params![excess],
    )? as i64;
    if excess > 0 {
        excess -= tx.execute(
            "DELETE FROM items WHERE id IN (
                SELECT id FROM items WHERE read = 0 AND source = ?2
                ORDER BY time ASC, id ASC LIMIT ?1)",
            params![excess, source],
        )? as i64;
    }
    if excess > 0 {
        tx.execute(
            "DELETE FROM items WHERE id IN (
                SELECT id FROM items ORDER BY time ASC, id ASC LIMIT ?1)",
            params![excess],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chime_proto::protocol::{Counts, Event, Target};

    /// Test times are offsets from this plausible "now".
    const T0: i64 = 1_764_000_000_000;

    fn event(seq: u64, kind: Kind, time: i64) -> NewItem {
        NewItem::Event(Event {
            seq,
            kind,
            actor: format!("user{seq}"),
            target: Target {
                title: format!("post {seq}"),
                url: format!("https://example.com/p/{seq}"),
            },
            time: T0 + time,
            message: None,
        })
    }

    fn titles(store: &Store) -> Vec<String> {
        let rows = store.list(&Filter::default(), 10).expect("list");
        rows.into_iter().map(|r| r.title).collect()
    }

    fn state(last_seq: u64) -> InboxState {
        InboxState {
            last_seq,
            epoch: Some("e1".into()),
            ..InboxState::default()
        }
    }

    #[test]
    fn implausible_event_times_are_stored_as_the_arrival_time() {
        let now = 1_764_000_000_000;
        let table = [
            (now - 5_000, now - 5_000),
            (0, now),
            (1_764_000_000, now),                     // seconds
            (1_764_000_000_000_000, now),             // microseconds
            (Y2000_MS - 1, now),                      // before 2000
            (now + MAX_AHEAD_MS, now + MAX_AHEAD_MS), // a day ahead
            (now + MAX_AHEAD_MS + 1, now),
            (i64::MAX, now),
            (-1, now),
        ];
        for (time, want) in table {
            assert_eq!(sane_time(time, now), want, "{time}");
        }
        let mut store = Store::in_memory().expect("store");
        store
            .record(
                DEFAULT_SOURCE,
                &[event(1, Kind::Like, i64::MAX - T0)],
                &state(1),
                now,
            )
            .expect("record");
        assert_eq!(
            store.list(&Filter::default(), 1).expect("list")[0].time,
            now
        );
    }

    fn version(id: &str, sequence: &str, body: &str) -> NewItem {
        NewItem::Event(Event {
            seq: 0,
            kind: Kind::Message,
            actor: "ci".into(),
            target: Target {
                title: "Build".into(),
                url: String::new(),
            },
            time: T0,
            message: Some(Box::new(chime_proto::protocol::Message {
                id: id.into(),
                body: body.into(),
                sequence: sequence.into(),
                ..Default::default()
            })),
        })
    }

    #[test]
    fn a_sequences_versions_share_one_row_changed_in_place_and_withdrawing_reads_or_removes_it() {
        let mut store = Store::in_memory().expect("store");
        let st = InboxState::default();
        let fresh = store
            .record(
                "ntfy",
                &[version("a1", "job", "started"), version("b1", "", "other")],
                &st,
                T0,
            )
            .expect("record");
        assert_eq!(fresh.len(), 2);
        let row = |store: &Store| {
            store
                .list(&Filter::default(), 10)
                .expect("list")
                .into_iter()
                .find(|r| r.message.as_ref().is_some_and(|m| m.sequence == "job"))
                .expect("the job's row")
        };
        // Read, then a new version: the same row, new text, still read;
        // the version is announced; a repeat of it is not.
        store.mark_read(row(&store).id).expect("read");
        let fresh = store
            .record(
                "ntfy",
                &[version("a2", "job", "done"), version("a2", "job", "done")],
                &st,
                T0,
            )
            .expect("record");
        assert_eq!(fresh.len(), 1);
        assert_eq!(store.len().expect("len"), 2);
        let r = row(&store);
        assert_eq!((r.body.as_str(), r.read), ("done", true));
        // A later plain message naming b1 as its sequence updates b1's row.
        store
            .record("ntfy", &[version("b2", "b1", "other, again")], &st, T0)
            .expect("record");
        assert_eq!(store.len().expect("len"), 2);
        // Withdrawn: read (the unread one counts), then removed.
        assert_eq!(
            store
                .withdraw("ntfy", &["job".into(), "b1".into(), "nope".into()], false)
                .expect("clear"),
            vec![Kind::Message]
        );
        assert_eq!(
            store.unread(Some("ntfy"), Kind::Message).expect("unread"),
            0
        );
        assert_eq!(
            store
                .withdraw("ntfy", &["job".into()], true)
                .expect("delete"),
            vec![]
        );
        assert_eq!(store.len().expect("len"), 1);
        // Another source's rows of the same key are not touched.
        assert_eq!(
            store
                .withdraw("gotify", &["b1".into()], true)
                .expect("delete"),
            vec![]
        );
        assert_eq!(store.len().expect("len"), 1);
    }

    #[test]
    fn an_event_recorded_twice_is_returned_as_new_only_once() {
        let mut store = Store::in_memory().expect("store");
        let first = store
            .record(
                DEFAULT_SOURCE,
                &[event(1, Kind::Like, 10), event(2, Kind::Reply, 20)],
                &state(2),
                99,
            )
            .expect("record");
        assert_eq!(first.len(), 2);
        let again = store
            .record(
                DEFAULT_SOURCE,
                &[event(2, Kind::Reply, 20), event(3, Kind::Like, 30)],
                &state(3),
                99,
            )
            .expect("record");
        assert_eq!(again, vec![event(3, Kind::Like, 30)]);
        assert_eq!(store.len().expect("len"), 3);
        assert_eq!(store.state(DEFAULT_SOURCE).expect("state"), state(3));
    }

    #[test]
    fn a_schema_3_inbox_gains_messages_and_keeps_its_rows() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, source TEXT NOT NULL, key TEXT NOT NULL,
               kind TEXT NOT NULL, actor TEXT NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL,
               time INTEGER NOT NULL, read INTEGER NOT NULL DEFAULT 0, content TEXT,
               UNIQUE (source, key));
             INSERT INTO items (source, key, kind, actor, title, url, time)
               VALUES ('default', 'e:1', 'reply', 'a', 'old', 'u', 5);
             CREATE TABLE cursors (source TEXT PRIMARY KEY, server TEXT NOT NULL, state TEXT NOT NULL);
             PRAGMA user_version = 3;",
        )
        .expect("v3");
        let mut store = Store::init(conn).expect("upgrade");
        let rows = store.list(&Filter::default(), 10).expect("list");
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].title.as_str(), rows[0].body.as_str()), ("old", ""));
        assert!(rows[0].message.is_none());
        let m = NewItem::Event(Event {
            seq: 0,
            kind: Kind::Message,
            actor: "alerts".into(),
            target: Target {
                title: "Disk".into(),
                url: String::new(),
            },
            time: T0,
            message: Some(Box::new(chime_proto::protocol::Message {
                id: "abc".into(),
                body: "full".into(),
                priority: 5,
                tags: vec!["warning".into()],
                ..Default::default()
            })),
        });
        let st = InboxState::default();
        assert_eq!(
            store
                .record("ntfy", &[m.clone(), m.clone()], &st, T0)
                .expect("record")
                .len(),
            1
        );
        assert!(
            store
                .record("ntfy", &[m], &st, T0)
                .expect("again")
                .is_empty(),
            "its id keys it"
        );
        let found = store
            .list(
                &Filter {
                    text: Some("full"),
                    ..Filter::default()
                },
                10,
            )
            .expect("search the body");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].emoji, "⚠️");
        assert_eq!(found[0].message.as_ref().map(|m| m.priority), Some(5));
        assert_eq!(
            store.unread_message_ids("ntfy", None).expect("ids"),
            vec!["abc".to_owned()]
        );
    }

    #[test]
    fn a_schema_1_inbox_is_upgraded_in_place() {
        let dir = std::env::temp_dir().join(format!("chime-store-v1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("inbox.sqlite3");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(
                "CREATE TABLE items (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,
                   kind TEXT NOT NULL, actor TEXT NOT NULL, title TEXT NOT NULL,
                   url TEXT NOT NULL, time INTEGER NOT NULL, read INTEGER NOT NULL DEFAULT 0);
                 INSERT INTO items (key, kind, actor, title, url, time) VALUES
                   ('e:1', 'like', 'a', 't', 'u', 5);
                 PRAGMA user_version = 1;",
            )
            .expect("v1");
        }
        let mut store = Store::open(&path).expect("upgrade");
        assert_eq!(store.len().expect("len"), 1);
        assert_eq!(
            store
                .record(DEFAULT_SOURCE, &[event(2, Kind::Like, 10)], &state(2), T0)
                .expect("record")
                .len(),
            1
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sources_keep_their_own_rows_keys_and_resume_states_and_go_whole() {
        let mut store = Store::in_memory().expect("store");
        store.resume("blog", "wss://a/ as token:1").expect("resume");
        store.resume("work", "wss://a/ as token:2").expect("resume");
        // The same event number from two accounts: two rows.
        assert_eq!(
            store
                .record("blog", &[event(1, Kind::Like, 1)], &state(1), T0)
                .expect("record")
                .len(),
            1
        );
        let mut other = event(1, Kind::Like, 2);
        if let NewItem::Event(e) = &mut other {
            e.target.title = "50% off_sale".into();
        }
        assert_eq!(
            store
                .record("work", &[other], &state(7), T0)
                .expect("record")
                .len(),
            1
        );
        assert_eq!(store.state("blog").expect("state"), state(1));
        assert_eq!(store.state("work").expect("state"), state(7));
        let of = |source| Filter {
            source: Some(source),
            ..Filter::default()
        };
        assert_eq!(store.list(&of("work"), 10).expect("list").len(), 1);
        assert_eq!(store.list(&of("work"), 10).expect("list")[0].source, "work");
        let text = |t| Filter {
            text: Some(t),
            ..Filter::default()
        };
        assert_eq!(store.list(&text("50%"), 10).expect("list").len(), 1);
        assert_eq!(store.list(&text("0% off_"), 10).expect("list").len(), 1);
        assert_eq!(
            store.list(&text("%"), 10).expect("list").len(),
            1,
            "% is literal"
        );
        assert_eq!(
            store.list(&text("USER1"), 10).expect("list").len(),
            2,
            "actor, any case"
        );
        assert_eq!(store.unread(Some("blog"), Kind::Like).expect("unread"), 1);
        store.mark_kind_read(Some("blog"), None).expect("read");
        assert_eq!(store.unread(Some("work"), Kind::Like).expect("unread"), 1);
        assert_eq!(store.remove_source("work").expect("remove"), 1);
        assert_eq!(store.len().expect("len"), 1);
        assert_eq!(
            store.resume("work", "wss://a/ as token:2").expect("resume"),
            InboxState::default()
        );
    }

    #[test]
    fn a_schema_2_inbox_becomes_the_default_sources_with_its_resume_state() {
        let dir = std::env::temp_dir().join(format!("chime-store-v2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("inbox.sqlite3");
        let saved = serde_json::to_string(&state(9)).expect("json");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(
                "CREATE TABLE items (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,
                   kind TEXT NOT NULL, actor TEXT NOT NULL, title TEXT NOT NULL,
                   url TEXT NOT NULL, time INTEGER NOT NULL, read INTEGER NOT NULL DEFAULT 0,
                   content TEXT);
                 CREATE TABLE resume (id INTEGER PRIMARY KEY CHECK (id = 1),
                   server TEXT NOT NULL, state TEXT NOT NULL);
                 INSERT INTO items (id, key, kind, actor, title, url, time, read) VALUES
                   (7, 'e1:9', 'reply', 'a', 'kept', 'u', 5, 1);
                 PRAGMA user_version = 2;",
            )
            .expect("v2");
            conn.execute(
                "INSERT INTO resume (id, server, state) VALUES (1, 'wss://a/', ?1)",
                params![saved],
            )
            .expect("resume");
        }
        let mut store = Store::open(&path).expect("upgrade");
        let rows = store.list(&Filter::default(), 10).expect("list");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].id, rows[0].read, rows[0].source.as_str()),
            (7, true, DEFAULT_SOURCE)
        );
        assert_eq!(
            store
                .resume_or(DEFAULT_SOURCE, "new key", &["wss://a/"])
                .expect("resume"),
            state(9)
        );
        // The same key again is still known (it moved with its source).
        let again = NewItem::Event(Event {
            seq: 9,
            kind: Kind::Reply,
            actor: "x".into(),
            target: Target::default(),
            time: 0,
            message: None,
        });
        assert!(store
            .record(DEFAULT_SOURCE, &[again], &state(9), T0)
            .expect("record")
            .is_empty());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn under_a_new_epoch_an_event_is_new_unless_it_says_the_same_at_the_same_time() {
        // (time of the replayed event, new to the store)
        for (time, new) in [(11, true), (10, false)] {
            let mut store = Store::in_memory().expect("store");
            store
                .record(DEFAULT_SOURCE, &[event(1, Kind::Like, 10)], &state(1), T0)
                .expect("record");
            let mut s = state(1);
            s.epoch = Some("renamed".into());
            let fresh = store
                .record(DEFAULT_SOURCE, &[event(1, Kind::Like, time)], &s, T0)
                .expect("record");
            assert_eq!(!fresh.is_empty(), new, "time {time}");
        }
    }

    #[test]
    fn a_state_kept_under_an_earlier_name_is_taken_and_then_recorded_under_the_new_one() {
        let mut store = Store::in_memory().expect("store");
        store.resume(DEFAULT_SOURCE, "wss://a/").expect("resume");
        store
            .record(DEFAULT_SOURCE, &[event(1, Kind::Like, 1)], &state(1), T0)
            .expect("record");
        assert_eq!(
            store
                .resume_or(DEFAULT_SOURCE, "wss://a/ as token:1234", &["wss://a/"])
                .expect("resume"),
            state(1)
        );
        store
            .record(DEFAULT_SOURCE, &[event(2, Kind::Like, 2)], &state(2), T0)
            .expect("record");
        assert_eq!(
            store
                .resume(DEFAULT_SOURCE, "wss://a/ as token:1234")
                .expect("resume"),
            state(2)
        );
        // Another account of the same server starts on its own.
        assert_eq!(
            store
                .resume_or(DEFAULT_SOURCE, "wss://a/ as token:beef", &[])
                .expect("resume"),
            InboxState::default()
        );
    }

    #[test]
    fn the_resume_state_belongs_to_its_server() {
        let mut store = Store::in_memory().expect("store");
        assert_eq!(
            store.resume(DEFAULT_SOURCE, "wss://a/").expect("resume"),
            InboxState::default()
        );
        store
            .record(DEFAULT_SOURCE, &[event(1, Kind::Like, 1)], &state(1), T0)
            .expect("record");
        assert_eq!(
            store.resume(DEFAULT_SOURCE, "wss://b/").expect("resume"),
            InboxState::default()
        );
        assert_eq!(
            store.resume(DEFAULT_SOURCE, "wss://a/").expect("resume"),
            state(1)
        );
    }

    #[test]
    fn rows_come_newest_first_and_filter_by_kind() {
        let mut store = Store::in_memory().expect("store");
        let items = [
            event(1, Kind::Like, 300),
            event(2, Kind::Reply, 100),
            event(3, Kind::Like, 200),
        ];
        store
            .record(DEFAULT_SOURCE, &items, &state(3), T0)
            .expect("record");
        let all: Vec<i64> = store
            .list(&Filter::default(), 10)
            .expect("list")
            .iter()
            .map(|r| r.time - T0)
            .collect();
        assert_eq!(all, [300, 200, 100]);
        let likes = store
            .list(
                &Filter {
                    kind: Some(Kind::Like),
                    ..Filter::default()
                },
                10,
            )
            .expect("list");
        assert_eq!(likes.len(), 2);
        assert!(likes.iter().all(|r| r.kind == Kind::Like && !r.read));
    }

    #[test]
    fn the_cap_prunes_the_oldest_read_rows_before_any_unread_one() {
        let mut store = Store::in_memory().expect("store").with_cap(3);
        let first: Vec<_> = (1..=3).map(|s| event(s, Kind::Like, s as i64)).collect();
        store
            .record(DEFAULT_SOURCE, &first, &state(3), T0)
            .expect("record");
        // Row 2 (the middle one) is read: it goes first, not row 1.
        let two = store.list(&Filter::default(), 10).expect("list")[1].id;
        store.mark_read(two).expect("read");
        store
            .record(DEFAULT_SOURCE, &[event(4, Kind::Like, 4)], &state(4), T0)
            .expect("record");
        assert_eq!(titles(&store), ["post 4", "post 3", "post 1"]);
        // With nothing read, the oldest unread goes.
        store
            .record(DEFAULT_SOURCE, &[event(5, Kind::Like, 5)], &state(5), T0)
            .expect("record");
        assert_eq!(titles(&store), ["post 5", "post 4", "post 3"]);
    }

    #[test]
    fn a_busy_source_evicts_its_own_unread_rows_never_a_quiet_ones() {
        let mut store = Store::in_memory().expect("store").with_cap(10);
        // A quiet source's 3 unread rows, older than anything else.
        let quiet: Vec<_> = (1..=3).map(|s| event(s, Kind::Reply, s as i64)).collect();
        store
            .record("quiet", &quiet, &state(3), T0)
            .expect("record");
        // A busy one brings 50, in bursts.
        for burst in 0..5u64 {
            let items: Vec<_> = (1..=10)
                .map(|i| {
                    let seq = burst * 10 + i;
                    event(1000 + seq, Kind::Like, 100 + seq as i64)
                })
                .collect();
            store
                .record("busy", &items, &state(burst * 10 + 10), T0)
                .expect("record");
        }
        assert_eq!(store.len().expect("len"), 10);
        assert_eq!(store.unread(Some("quiet"), Kind::Reply).expect("unread"), 3);
        assert_eq!(store.unread(Some("busy"), Kind::Like).expect("unread"), 7);
        // Read rows still go before any unread one, whoever they belong to.
        store.mark_kind_read(Some("quiet"), None).expect("read");
        store
            .record("busy", &[event(2000, Kind::Like, 999)], &state(51), T0)
            .expect("record");
        assert_eq!(store.unread(Some("busy"), Kind::Like).expect("unread"), 8);
        assert_eq!(store.len().expect("len"), 10);
    }

    #[test]
    fn seed_bumps_become_rows_and_the_totals_are_kept() {
        let mut store = Store::in_memory().expect("store");
        let s = InboxState {
            totals: Counts {
                likes: 3,
                dislikes: 0,
                replies: 0,
                messages: 0,
            },
            ..InboxState::default()
        };
        let bump = NewItem::Bump {
            kind: Kind::Like,
            by: 3,
            total: 3,
        };
        assert_eq!(
            store
                .record(DEFAULT_SOURCE, std::slice::from_ref(&bump), &s, 1000)
                .expect("record")
                .len(),
            1
        );
        // The same total rising again later is another row.
        assert_eq!(
            store
                .record(DEFAULT_SOURCE, &[bump], &s, 2000)
                .expect("record")
                .len(),
            1
        );
        let rows = store.list(&Filter::default(), 10).expect("list");
        assert_eq!(rows[0].title, "3 new likes");
        assert_eq!(store.state(DEFAULT_SOURCE).expect("state").totals.likes, 3);
    }

    #[test]
    fn marking_read_by_kind_leaves_other_kinds_unread() {
        let mut store = Store::in_memory().expect("store");
        let items = [
            event(1, Kind::Like, 1),
            event(2, Kind::Reply, 2),
            event(3, Kind::Like, 3),
        ];
        store
            .record(DEFAULT_SOURCE, &items, &state(3), T0)
            .expect("record");
        assert_eq!(
            store.mark_kind_read(None, Some(Kind::Like)).expect("read"),
            2
        );
        assert_eq!(store.unread(None, Kind::Like).expect("unread"), 0);
        assert_eq!(store.unread(None, Kind::Reply).expect("unread"), 1);
    }

    #[test]
    fn a_file_store_survives_reopening_and_refuses_a_newer_schema() {
        let dir = std::env::temp_dir().join(format!("chime-store-{}", std::process::id()));
        let path = dir.join("inbox.sqlite3");
        let _ = std::fs::remove_dir_all(&dir);
        {
            let mut store = Store::open(&path).expect("open");
            store
                .record(DEFAULT_SOURCE, &[event(1, Kind::Like, 1)], &state(1), T0)
                .expect("record");
        }
        let mut store = Store::open(&path).expect("reopen");
        assert_eq!(store.len().expect("len"), 1);
        assert_eq!(store.state(DEFAULT_SOURCE).expect("state").last_seq, 1);
        // Another server's cursor means nothing here.
        assert_eq!(
            store.resume(DEFAULT_SOURCE, "wss://other/").expect("state"),
            InboxState::default()
        );
        store
            .conn
            .pragma_update(None, "user_version", 9)
            .expect("pragma");
        drop(store);
        assert!(matches!(Store::open(&path), Err(StoreError::Newer(9))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
