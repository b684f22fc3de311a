//! Which database, with which settings: `--database-url` (or
//! `HITCOUNT_DATABASE_URL`), else the app's Rocket.toml, read as Rocket
//! reads it (`ROCKET_*` variables over the file, profile `ROCKET_PROFILE`,
//! `release` by default).
//!
//! The command never harms a database that is not the app's: a command
//! that only reads opens it read-only and needs hitcount's tables there; a
//! command that writes creates a SQLite file, or hitcount's tables in a
//! database without them, only when told (`--create`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::Args;
use figment::providers::{Env, Format, Toml};
use figment::{Figment, Profile};
use hitcount::sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPoolOptions};
use hitcount::sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use hitcount::sqlx::{Connection, Executor};
use hitcount::{Db, HitCounter, Settings};

use crate::Failure;

/// The help heading of the options that name the database.
const DATABASE: &str = "Database";

/// Where the database is. Global: they may come before or after the
/// command's name.
#[derive(Args)]
pub struct Target {
    /// The database: a SQLite file (PATH, sqlite:PATH or sqlite://PATH),
    /// postgres://user@host/db or mysql://user@host/db (MariaDB).
    #[arg(
        long,
        env = "HITCOUNT_DATABASE_URL",
        global = true,
        value_name = "URL",
        help_heading = DATABASE
    )]
    database_url: Option<String>,
    /// The app's Rocket.toml (it must exist), for the database URL and
    /// [hitcount] settings. Without it: Rocket.toml here or in a folder
    /// above, if there is one.
    #[arg(long, env = "ROCKET_CONFIG", global = true, value_name = "FILE", help_heading = DATABASE)]
    config: Option<PathBuf>,
    /// Which of Rocket.toml's [databases] (needed when it has several).
    #[arg(long, global = true, value_name = "NAME", help_heading = DATABASE)]
    database: Option<String>,
}

/// What a command does to the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Only reads: the database is opened read-only, and must have
    /// hitcount's tables.
    Read,
    /// Writes: hitcount's tables are made where there are none (and a
    /// SQLite file where there is none) only with `create`.
    Write { create: bool },
}

/// A database named on the command line or in Rocket.toml.
pub enum Location {
    /// A SQLite file, with the options of its URL.
    Sqlite(PathBuf, Box<SqliteConnectOptions>),
    /// A PostgreSQL URL.
    Postgres(String),
    /// A MySQL/MariaDB URL.
    MySql(String),
}

/// The forms `Location::parse` accepts, for its message.
const FORMS: &str =
    "expected a SQLite file (PATH, sqlite:PATH or sqlite://PATH), postgres://user@host/db or mysql://user@host/db";

impl Location {
    /// A database URL, or a plain path to a SQLite file.
    pub fn parse(text: &str) -> Result<Location, Failure> {
        let invalid = |why: &str| format!("invalid database URL {:?}: {why}", Db::redacted_url(text));
        if text.starts_with("postgres:") || text.starts_with("postgresql:") {
            return Ok(Location::Postgres(text.to_owned()));
        }
        if text.starts_with("mysql:") || text.starts_with("mariadb:") {
            return Ok(Location::MySql(text.to_owned()));
        }
        let options = if text.starts_with("sqlite:") {
            // Read as the app's sqlx reads it (percent-decoding included).
            let rest = text
                .strip_prefix("sqlite://")
                .or_else(|| text.strip_prefix("sqlite:"))
                .unwrap_or(text);
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
                return Err(invalid(
                    "an in-memory database ends with the command that made it: name a file",
                ));
            }
            if path.is_empty() {
                return Err(invalid(FORMS));
            }
            SqliteConnectOptions::from_str(text).map_err(|e| invalid(&e.to_string()))?
        } else if text.contains("://") || text.is_empty() {
            return Err(invalid(FORMS));
        } else {
            SqliteConnectOptions::new().filename(text)
        };
        let path = options.clone().get_filename().into_owned();
        Ok(Location::Sqlite(path, Box::new(options)))
    }

    /// Opens a pool on it, read-only or not. A SQLite file is created only
    /// with `create`.
    pub async fn connect(&self, read_only: bool, create: bool) -> hitcount::Result<Db> {
        match self {
            Location::Sqlite(_, options) => {
                let options = (**options).clone().read_only(read_only).create_if_missing(create);
                Ok(Db::from(SqlitePool::connect_with(options).await?))
            }
            Location::Postgres(url) if read_only => {
                // Every transaction of the session read-only.
                let separator = if url.contains('?') { '&' } else { '?' };
                Db::connect(&format!(
                    "{url}{separator}options[default_transaction_read_only]=on"
                ))
                .await
            }
            Location::Postgres(url) => Db::connect(url).await,
            Location::MySql(url) if read_only => {
                let options = MySqlConnectOptions::from_str(&url.replacen("mariadb:", "mysql:", 1))?;
                // One connection first, as `Db::connect` does: a server
                // that refuses is said at once, not after the pool's
                // timeout.
                MySqlConnection::connect_with(&options).await?.close().await?;
                let pool = MySqlPoolOptions::new()
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("SET SESSION TRANSACTION READ ONLY").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?;
                Ok(Db::from(pool))
            }
            Location::MySql(url) => Db::connect(url).await,
        }
    }
}

impl fmt::Display for Location {
    /// The path of a SQLite file; a URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path, _) => path.display().fmt(f),
            Location::Postgres(url) | Location::MySql(url) => f.write_str(&Db::redacted_url(url)),
        }
    }
}

/// The Rocket.toml to read: the one named, which must exist, else
/// Rocket.toml when there is one. Like Rocket, a relative path is looked
/// for in the working folder and then in each folder above it.
fn config_file(target: &Target) -> Result<Option<PathBuf>, Failure> {
    let (path, named) = match &target.config {
        Some(path) => (path.as_path(), true),
        None => (Path::new("Rocket.toml"), false),
    };
    let found = if path.is_absolute() {
        path.is_file().then(|| path.to_owned())
    } else {
        std::env::current_dir()
            .ok()
            .and_then(|cwd| cwd.ancestors().map(|dir| dir.join(path)).find(|p| p.is_file()))
    };
    match found {
        Some(file) => {
            check_toml(&file)?;
            Ok(Some(file))
        }
        None if named => Err(format!(
            "config file {} does not exist (named by --config or ROCKET_CONFIG)",
            path.display()
        )),
        None => Ok(None),
    }
}

/// Refuses a file that is not TOML, saying where.
fn check_toml(file: &Path) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read config file {}: {e}", file.display()))?;
    let Err(error) = text.parse::<toml::Table>() else {
        return Ok(());
    };
    let at = error.span().map_or_else(String::new, |span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        format!(" at line {line}, column {column}")
    });
    let message = error.message().trim().replace('\n', "; ");
    Err(format!(
        "config file {} has a TOML syntax error{at}: {message}",
        file.display()
    ))
}

/// The app's configuration as Rocket would read it.
fn figment(file: Option<&Path>) -> Figment {
    let profile = Profile::from_env_or("ROCKET_PROFILE", "release");
    let mut figment = Figment::new();
    if let Some(file) = file {
        figment = figment.merge(Toml::file_exact(file).nested());
    }
    figment
        .merge(Env::prefixed("ROCKET_").ignore(&["PROFILE", "CONFIG"]).global())
        .select(profile)
}

/// The database URL: the flag, else the one database of Rocket.toml.
fn database_url(target: &Target, figment: &Figment, config: &str) -> Result<String, Failure> {
    if let Some(url) = &target.database_url {
        return Ok(url.clone());
    }
    let databases: std::collections::BTreeMap<String, figment::value::Value> =
        figment.extract_inner("databases").unwrap_or_default();
    let name = match (&target.database, databases.len()) {
        (Some(name), _) => name.clone(),
        (None, 1) => databases.keys().next().expect("one").clone(),
        (None, 0) => {
            return Err(format!(
                "no database: pass --database-url, set HITCOUNT_DATABASE_URL, or run where {config} names one"
            ))
        }
        (None, _) => {
            let names: Vec<_> = databases.keys().map(String::as_str).collect();
            return Err(format!(
                "{config} names several databases ({}): pick one with --database",
                names.join(", ")
            ));
        }
    };
    figment
        .extract_inner(&format!("databases.{name}.url"))
        .map_err(|_| format!("{config} has no databases.{name}.url"))
}

/// The app's `[hitcount]` settings (defaults where it has none). A bad
/// value is named by its key as written (`default.hitcount.keep_hit_active`)
/// and its file.
fn settings(figment: &Figment) -> Result<Settings, Failure> {
    if !figment.contains("hitcount") {
        return Ok(Settings::default());
    }
    let settings: Settings = figment.focus("hitcount").extract().map_err(|error| {
        let each: Vec<String> = error
            .into_iter()
            .map(|mut e| {
                // The path is the key's inside [hitcount].
                e.path.insert(0, "hitcount".to_owned());
                let (key, source) = place(e.profile.as_ref(), e.metadata.as_ref(), &e.path);
                format!("invalid setting {key}{source}: {}", e.kind)
            })
            .collect();
        each.join("; ")
    })?;
    settings.validate().map_err(|e| match e {
        hitcount::Error::Setting { key, value, reason } => {
            let path = ["hitcount".to_owned(), key.to_owned()];
            match figment.find_value(&path.join(".")) {
                Ok(found) => {
                    let (key, source) = place(
                        found.tag().profile().as_ref(),
                        figment.get_metadata(found.tag()),
                        &path,
                    );
                    let value = serde_json::to_string(&found).unwrap_or(value);
                    format!("invalid setting {key} = {value}{source}: {reason}")
                }
                // A default, in conflict with a value that was set.
                Err(_) => format!("invalid setting hitcount.{key} (by default {value}): {reason}"),
            }
        }
        other => format!("invalid [hitcount] settings: {other}"),
    })?;
    Ok(settings)
}

/// A key as its source writes it (`default.hitcount.keep_hit_active`, or
/// an environment variable's name), and ` in` that source.
fn place(
    profile: Option<&Profile>,
    metadata: Option<&figment::Metadata>,
    path: &[String],
) -> (String, String) {
    let key = match (profile, metadata) {
        (Some(profile), Some(metadata)) => metadata.interpolate(profile, path),
        _ => path.join("."),
    };
    let source = match metadata {
        Some(figment::Metadata {
            source: Some(figment::Source::File(file)),
            ..
        }) => format!(" in {}", file.display()),
        Some(metadata) => format!(" in {}", metadata.name),
        None => String::new(),
    };
    (key, source)
}

/// The counter on the target database, with the app's `[hitcount]`
/// settings, once the database is known to be one the command may use as
/// `access` says.
pub async fn open(target: &Target, access: Access) -> Result<HitCounter, Failure> {
    let file = config_file(target)?;
    let config = file
        .as_ref()
        .map_or_else(|| "Rocket.toml".to_owned(), |f| f.display().to_string());
    let figment = figment(file.as_deref());
    let url = database_url(target, &figment, &config)?;
    let mut settings = settings(&figment)?;
    let location = Location::parse(&url)?;
    // The core's messages may quote the URL: never with its password.
    let say = |what: &str, e: hitcount::Error| {
        format!(
            "{what} {location}: {}",
            e.to_string().replace(&url, &location.to_string())
        )
    };

    let read_only = access == Access::Read;
    let create = access == Access::Write { create: true };
    if let Location::Sqlite(path, _) = &location {
        match access {
            _ if path.exists() => {}
            Access::Read => return Err(format!("no database at {location}: there is no such file")),
            Access::Write { create: false } => {
                return Err(format!(
                    "no database at {location}: pass --create to make a new one"
                ))
            }
            Access::Write { create: true } => {}
        }
    }
    let db = location
        .connect(read_only, create)
        .await
        .map_err(|e| say("cannot open", e))?;
    check_tables(&db, &location, access)
        .await
        .map_err(|e| e.unwrap_or_else(|e| say("cannot read", e)))?;

    // The command runs what it is asked and nothing else: no background
    // cleanup. Reading, it switches nothing (SQLite's journal mode).
    settings.cleanup_interval = None;
    if read_only {
        settings.sqlite_wal = false;
        settings.fast_commits = false;
        // Reading hashes no IP, so it needs no key: where the settings
        // name none, one of its own spares storing one in the database.
        settings
            .ip_hash_key
            .get_or_insert_with(|| "reading hashes no IP".to_owned());
    }
    HitCounter::open(db, settings)
        .await
        .map_err(|e| say("cannot use", e))
}

/// Whether the command may use this database: one with hitcount's tables
/// always (reading needs them up to date, as it cannot update them); one
/// without them only to write, when told to create them. `Err(Ok(_))`
/// says why not, `Err(Err(_))` is the database's failure.
async fn check_tables(
    db: &Db,
    location: &Location,
    access: Access,
) -> Result<(), Result<Failure, hitcount::Error>> {
    match (db.pending_migrations().await.map_err(Err)?, access) {
        (Some(0), _) | (Some(_), Access::Write { .. }) | (None, Access::Write { create: true }) => Ok(()),
        (Some(_), Access::Read) => Err(Ok(format!(
            "{location} has hitcount's tables of an earlier version: the app, or a command that writes \
             (hitcount cleanup), updates them"
        ))),
        (None, access) => {
            let tables = db.table_names().await.map_err(Err)?;
            let what = match tables.len() {
                0 => "has no tables".to_owned(),
                n => {
                    let shown: Vec<&str> = tables.iter().take(3).map(String::as_str).collect();
                    let more = if n > 3 { ", ..." } else { "" };
                    format!("has other tables ({}{more}) but not hitcount's", shown.join(", "))
                }
            };
            Err(Ok(match access {
                Access::Read => format!("{location} {what}: is it the app's database?"),
                Access::Write { .. } => {
                    format!("{location} {what}: pass --create to add hitcount's tables to it")
                }
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Location;

    #[test]
    fn a_sqlite_file_is_a_path_or_a_url() {
        for (text, path) in [
            ("blog.db", "blog.db"),
            ("/srv/blog.db", "/srv/blog.db"),
            ("sqlite:blog.db", "blog.db"),
            ("sqlite://blog.db?mode=rwc", "blog.db"),
            ("sqlite:///srv/blog.db", "/srv/blog.db"),
            ("sqlite:///srv/a%3Fb.db", "/srv/a?b.db"),
        ] {
            match Location::parse(text) {
                Ok(Location::Sqlite(found, _)) => assert_eq!(found.to_str(), Some(path), "{text}"),
                _ => panic!("{text} is a SQLite file"),
            }
        }
        assert!(matches!(
            Location::parse("postgresql://u@h/db"),
            Ok(Location::Postgres(_))
        ));
        assert!(matches!(
            Location::parse("mysql://u@h/db"),
            Ok(Location::MySql(_))
        ));
        for text in ["mongodb://localhost/x", "sqlite::memory:", "sqlite://", ""] {
            assert!(Location::parse(text).is_err(), "{text}");
        }
    }
}
