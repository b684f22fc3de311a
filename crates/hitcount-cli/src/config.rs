//! Which database, with which settings: `--database-url` (or
//! `HITCOUNT_DATABASE_URL`), else the app's Rocket.toml, read as Rocket
//! reads it (`ROCKET_*` variables over the file, profile `ROCKET_PROFILE`,
//! `release` by default).

use std::path::PathBuf;

use clap::Args;
use figment::providers::{Env, Format, Toml};
use figment::{Figment, Profile};
use hitcount::{Db, HitCounter, Settings};

use crate::Failure;

/// Where the database is.
#[derive(Args)]
pub struct Target {
    /// The database: sqlite://path/to/file.db or postgres://user@host/db.
    #[arg(long, env = "HITCOUNT_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// The app's Rocket.toml, for the database URL and [hitcount] settings.
    #[arg(long, env = "ROCKET_CONFIG", default_value = "Rocket.toml", global = true)]
    config: PathBuf,
    /// Which of Rocket.toml's [databases] (needed when it has several).
    #[arg(long, global = true)]
    database: Option<String>,
}

/// The app's configuration as Rocket would read it.
fn figment(target: &Target) -> Figment {
    let profile = Profile::from_env_or("ROCKET_PROFILE", "release");
    Figment::new()
        .merge(Toml::file(&target.config).nested())
        .merge(Env::prefixed("ROCKET_").ignore(&["PROFILE", "CONFIG"]).global())
        .select(profile)
}

/// The database URL: the flag, else the one database of Rocket.toml.
fn database_url(target: &Target, figment: &Figment) -> Result<String, Failure> {
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
                "no database: pass --database-url, set HITCOUNT_DATABASE_URL, or run where {} names one",
                target.config.display()
            ))
        }
        (None, _) => {
            let names: Vec<_> = databases.keys().map(String::as_str).collect();
            return Err(format!(
                "{} names several databases ({}): pick one with --database",
                target.config.display(),
                names.join(", ")
            ));
        }
    };
    figment
        .extract_inner(&format!("databases.{name}.url"))
        .map_err(|_| format!("{} has no databases.{name}.url", target.config.display()))
}

/// The counter on the target database, with the app's `[hitcount]`
/// settings (defaults where it has none).
pub async fn open(target: &Target) -> Result<HitCounter, Failure> {
    let figment = figment(target);
    let url = database_url(target, &figment)?;
    let settings: Settings = if figment.contains("hitcount") {
        figment
            .extract_inner("hitcount")
            .map_err(|e| format!("invalid [hitcount] settings in {}: {e}", target.config.display()))?
    } else {
        Settings::default()
    };
    // The core's messages may quote the URL: never with its password.
    let safe = redacted(&url);
    let say =
        |what: &str, e: hitcount::Error| format!("{what} {safe}: {}", e.to_string().replace(&url, &safe));
    let db = Db::connect(&url).await.map_err(|e| say("cannot open", e))?;
    // The command counts nothing: it opens beside a site counting
    // write-behind, whose lease an `open` would find taken.
    HitCounter::open_admin(db, settings)
        .await
        .map_err(|e| say("cannot use", e))
}

/// A URL fit for a message: without its password.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(redacted("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redacted("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
