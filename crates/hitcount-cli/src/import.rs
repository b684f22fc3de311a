//! `hitcount import-django`: a Django site's django-hitcount data moved
//! into this database, idempotently.

use std::process::ExitCode;

use hitcount::{Db, HitCounter};

use crate::Failure;

/// Options of `hitcount import-django`.
#[derive(clap::Args)]
pub struct Args {
    /// The Django database: a SQLite file (path or sqlite:// URL) or a
    /// postgres:// URL. It is only read.
    source: String,
}

pub async fn run(counter: &HitCounter, args: &Args) -> Result<ExitCode, Failure> {
    let url = source_url(&args.source)?;
    let source = Db::connect(&url)
        .await
        .map_err(|e| format!("cannot open the Django database {}: {e}", args.source))?;
    let report = counter
        .import_django(&source)
        .await
        .map_err(|e| format!("importing from {}: {e}", args.source))?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// The source as a URL. A SQLite file must exist: opening a missing one
/// would create it.
fn source_url(source: &str) -> Result<String, Failure> {
    if source.starts_with("postgres://") || source.starts_with("postgresql://") {
        return Ok(source.to_owned());
    }
    let path = source
        .strip_prefix("sqlite://")
        .or_else(|| source.strip_prefix("sqlite:"))
        .unwrap_or(source);
    let path = path.split('?').next().unwrap_or(path);
    if !std::path::Path::new(path).is_file() {
        return Err(format!(
            "no Django database at {path}: expected a SQLite file or a postgres:// URL"
        ));
    }
    // Read-only: the import never writes to Django's database.
    Ok(format!("sqlite://{path}?mode=ro"))
}
