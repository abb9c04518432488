//! Sources on a command line (chime-watch, the app's `--server`): the
//! per-source options grouped as ffmpeg groups per-input options, each
//! group turned into a profile and a supervisor config.

use chime_proto::text::sanitize;

use crate::dialect::heartbeat_problem;
use crate::policy::Heartbeat;
use url::Url;

use crate::profile::{Auth, ServerProfile};
use crate::supervisor::Config;

/// An option that belongs to one source on a command line.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceOpt {
    Name(String),
    Dialect(String),
    Token(String),
    Cookie(String),
    QueryToken(String),
    Header(String),
    Heartbeat(f64),
}

impl SourceOpt {
    fn flag(&self) -> &'static str {
        match self {
            SourceOpt::Name(_) => "--name",
            SourceOpt::Dialect(_) => "--dialect",
            SourceOpt::Token(_) => "--token",
            SourceOpt::Cookie(_) => "--cookie",
            SourceOpt::QueryToken(_) => "--query-token",
            SourceOpt::Header(_) => "--header",
            SourceOpt::Heartbeat(_) => "--heartbeat",
        }
    }
}

/// One source as the command line describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceFlags {
    pub server: String,
    pub name: Option<String>,
    pub dialect: Option<String>,
    pub token: Option<String>,
    pub cookie: Option<String>,
    pub query_token: Option<String>,
    pub headers: Vec<String>,
    pub heartbeat: Option<f64>,
}

impl SourceFlags {
    /// The label of this source in output: `--name`, else host and path.
    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return sanitize(n, 60);
        }
        match Url::parse(self.server.trim()) {
            Ok(u) => {
                let host = u.host_str().unwrap_or("server");
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                let path = u.path().trim_end_matches('/');
                format!("{host}{port}{path}")
            }
            Err(_) => sanitize(&self.server, 60),
        }
    }
}

impl SourceFlags {
    /// The profile and supervisor config this group describes (heartbeat
    /// 30 s unless given, and refused at 60 s or more for seed and auto).
    pub fn profile(&self) -> Result<(ServerProfile, Config), String> {
        let profile = ServerProfile::from_flags(
            &self.server,
            self.dialect.as_deref().unwrap_or("auto"),
            &self.headers,
            self.token.clone(),
            self.cookie.clone(),
            self.query_token.as_deref(),
        )?;
        let mut profile = profile;
        let proto = crate::dialect::protocol(profile.dialect);
        profile.auth = (proto.read_token)(std::mem::replace(&mut profile.auth, Auth::None));
        profile.validate().map_err(|e| e.to_string())?;
        let heartbeat = if proto.server_pings {
            if self.heartbeat.is_some() {
                return Err(
                    "--heartbeat: ntfy and Gotify servers ping Chime; nothing is sent".into(),
                );
            }
            Heartbeat::SERVER_PINGS
        } else {
            let secs = self.heartbeat.unwrap_or(30.0);
            if let Some(p) = heartbeat_problem(profile.dialect, secs) {
                return Err(format!("--heartbeat: {p}"));
            }
            Heartbeat::with_interval(std::time::Duration::from_secs_f64(secs))
        };
        let config = Config {
            dialect: profile.dialect,
            heartbeat,
            ..Config::default()
        };
        Ok((profile, config))
    }
}

/// Per-source options grouped as ffmpeg groups per-input options: each
/// belongs to the `--server` before it (the ones before the first
/// `--server` to the first). Positions are the arguments' indices on the
/// command line. A credential or setting given twice for one source is an
/// error, as is an option with no `--server` at all.
pub fn group_sources(
    servers: &[(usize, String)],
    options: &[(usize, SourceOpt)],
) -> Result<Vec<SourceFlags>, String> {
    if servers.is_empty() {
        return Err(match options.first() {
            Some((_, o)) => format!("{} needs a --server", o.flag()),
            None => "--server is required".into(),
        });
    }
    let mut servers = servers.to_vec();
    servers.sort_by_key(|(i, _)| *i);
    let mut out: Vec<SourceFlags> = servers
        .iter()
        .map(|(_, s)| SourceFlags {
            server: s.clone(),
            ..SourceFlags::default()
        })
        .collect();
    for (at, opt) in options {
        let n = servers.iter().rposition(|(i, _)| i < at).unwrap_or(0);
        let src = &mut out[n];
        let twice = |what: &str| {
            Err(format!(
                "{what} given twice for --server {}",
                src_label(&servers[n].1)
            ))
        };
        macro_rules! once {
            ($field:expr, $v:expr, $flag:expr) => {
                if $field.is_some() {
                    return twice($flag);
                }
                $field = Some($v.clone());
            };
        }
        match opt {
            SourceOpt::Name(v) => {
                once!(src.name, v, "--name");
            }
            SourceOpt::Dialect(v) => {
                once!(src.dialect, v, "--dialect");
            }
            SourceOpt::Token(v) => {
                once!(src.token, v, "--token");
            }
            SourceOpt::Cookie(v) => {
                once!(src.cookie, v, "--cookie");
            }
            SourceOpt::QueryToken(v) => {
                once!(src.query_token, v, "--query-token");
            }
            SourceOpt::Heartbeat(v) => {
                once!(src.heartbeat, v, "--heartbeat");
            }
            SourceOpt::Header(v) => src.headers.push(v.clone()),
        }
    }
    for s in &out {
        let creds = [&s.token, &s.cookie, &s.query_token]
            .iter()
            .filter(|c| c.is_some())
            .count();
        if creds > 1 {
            return Err(format!(
                "--server {}: give one of --token, --cookie, --query-token",
                src_label(&s.server)
            ));
        }
    }
    // Labels name sources in output: make them unique.
    let labels: Vec<String> = out.iter().map(SourceFlags::label).collect();
    for (i, s) in out.iter_mut().enumerate() {
        let same = labels[..i].iter().filter(|l| **l == labels[i]).count();
        if same > 0 || labels[i + 1..].contains(&labels[i]) {
            s.name = Some(format!("{} #{}", labels[i], same + 1));
        }
    }
    Ok(out)
}

/// The sources a command line describes: the per-source options of a
/// clap command (ids `server`, `name`, `dialect`, `token`, `cookie`,
/// `query_token`, `header`, `heartbeat`) grouped by their positions
/// ([`group_sources`]). A credential from the environment applies only
/// when there is one `--server`.
#[cfg(feature = "cli")]
pub fn sources_from_matches(m: &clap::ArgMatches) -> Result<Vec<SourceFlags>, String> {
    use clap::parser::ValueSource;
    fn at<T: Clone + Send + Sync + 'static>(m: &clap::ArgMatches, id: &str) -> Vec<(usize, T)> {
        match (m.indices_of(id), m.get_many::<T>(id)) {
            (Some(i), Some(v)) => i.zip(v.cloned()).collect(),
            _ => Vec::new(),
        }
    }
    let servers: Vec<(usize, String)> = at(m, "server");
    let mut opts: Vec<(usize, SourceOpt)> = Vec::new();
    opts.extend(
        at::<String>(m, "name")
            .into_iter()
            .map(|(i, v)| (i, SourceOpt::Name(v))),
    );
    opts.extend(
        at::<String>(m, "dialect")
            .into_iter()
            .map(|(i, v)| (i, SourceOpt::Dialect(v))),
    );
    opts.extend(
        at::<String>(m, "query_token")
            .into_iter()
            .map(|(i, v)| (i, SourceOpt::QueryToken(v))),
    );
    opts.extend(
        at::<String>(m, "header")
            .into_iter()
            .map(|(i, v)| (i, SourceOpt::Header(v))),
    );
    opts.extend(
        at::<f64>(m, "heartbeat")
            .into_iter()
            .map(|(i, v)| (i, SourceOpt::Heartbeat(v))),
    );
    // A credential from the environment has no position: it belongs to the
    // one source there is, and to no guess among several.
    for (id, wrap) in [
        ("token", SourceOpt::Token as fn(String) -> SourceOpt),
        ("cookie", SourceOpt::Cookie),
    ] {
        if m.value_source(id) == Some(ValueSource::EnvVariable) {
            let Some(v) = m.get_one::<String>(id) else {
                continue;
            };
            if servers.len() != 1 {
                return Err(format!(
                    "CHIME_{} applies only with one --server; give --{id} after each --server",
                    id.to_ascii_uppercase()
                ));
            }
            opts.push((0, wrap(v.clone())));
        } else {
            opts.extend(at::<String>(m, id).into_iter().map(|(i, v)| (i, wrap(v))));
        }
    }
    group_sources(&servers, &opts)
}

/// A server as named in an error: host and path, never a query value.
fn src_label(server: &str) -> String {
    SourceFlags {
        server: server.to_owned(),
        ..SourceFlags::default()
    }
    .label()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_belong_to_the_server_before_them() {
        let servers = [
            (1, "ws://a:1/pushMsg".to_owned()),
            (5, "wss://b/v1/stream?token=q".to_owned()),
        ];
        let opts = [
            (0, SourceOpt::Token("early".into())),
            (3, SourceOpt::Dialect("seed".into())),
            (7, SourceOpt::Header("X-A: 1".into())),
            (9, SourceOpt::Name("Blog".into())),
            (11, SourceOpt::Header("X-B: 2".into())),
        ];
        let g = group_sources(&servers, &opts).expect("groups");
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].token.as_deref(), Some("early"));
        assert_eq!(g[0].dialect.as_deref(), Some("seed"));
        assert_eq!(g[0].label(), "a:1/pushMsg");
        assert_eq!(g[1].headers, vec!["X-A: 1".to_owned(), "X-B: 2".to_owned()]);
        assert_eq!(g[1].label(), "Blog");
        assert!(g[1].token.is_none());
    }

    #[test]
    fn a_setting_twice_for_one_server_and_two_credentials_are_errors() {
        let servers = [(1, "ws://a/".to_owned())];
        let twice = [
            (2, SourceOpt::Token("x".into())),
            (3, SourceOpt::Token("y".into())),
        ];
        let e = group_sources(&servers, &twice).expect_err("twice");
        assert!(e.contains("--token given twice"), "{e}");
        let both = [
            (2, SourceOpt::Token("x".into())),
            (3, SourceOpt::Cookie("c".into())),
        ];
        assert!(group_sources(&servers, &both).is_err());
        assert!(group_sources(&[], &[(1, SourceOpt::Token("t".into()))]).is_err());
    }

    #[test]
    fn sources_with_the_same_label_are_told_apart() {
        let servers = [(1, "ws://h/s".to_owned()), (2, "ws://h/s".to_owned())];
        let g = group_sources(&servers, &[]).expect("groups");
        assert_eq!(g[0].label(), "h/s #1");
        assert_eq!(g[1].label(), "h/s #2");
    }
}
