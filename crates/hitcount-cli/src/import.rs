//! `hitcount import-django`: a Django site's django-hitcount data moved
//! into this database, idempotently.

use std::process::ExitCode;

use hitcount::{Db, HitCounter};

use crate::config::Location;
use crate::Failure;

/// Options of `hitcount import-django`.
#[derive(clap::Args)]
pub struct Args {
    /// The Django database: a SQLite file (PATH, sqlite:PATH or
    /// sqlite://PATH), a postgres:// or a mysql:// URL. It is only read.
    source: String,
    /// Create the SQLite file if it is missing, and hitcount's tables if
    /// the database has none (an empty one, or one with other tables).
    #[arg(long)]
    create: bool,
}

impl Args {
    /// Whether to create what is missing.
    pub fn create(&self) -> bool {
        self.create
    }
}

/// The Django database, opened read-only and checked for
/// django-hitcount's tables: before the app's database is opened, so that
/// a mistyped source creates nothing there.
pub async fn source(args: &Args) -> Result<(Db, Location), Failure> {
    let location = Location::parse(&args.source)?;
    // A SQLite file must exist: opening a missing one would create it.
    if let Location::Sqlite(path, _) = &location {
        if !path.is_file() {
            return Err(format!(
                "no Django database at {location}: expected a SQLite file, a postgres:// or a mysql:// URL"
            ));
        }
    }
    // Read-only: the import never writes to Django's database.
    let source = location
        .connect(true, false)
        .await
        .map_err(|e| format!("cannot open the Django database {location}: {e}"))?;
    let tables = source
        .table_names()
        .await
        .map_err(|e| format!("cannot read the Django database {location}: {e}"))?;
    let missing: Vec<&str> = ["hitcount_hit_count", "django_content_type"]
        .into_iter()
        .filter(|table| !tables.iter().any(|t| t == table))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{location} is not a django-hitcount database: it has no {}",
            missing.join(" and no ")
        ));
    }
    Ok((source, location))
}

/// Imports from the Django database that [`source`] opened.
pub async fn run(counter: &HitCounter, (source, location): (Db, Location)) -> Result<ExitCode, Failure> {
    let report = counter
        .admin()
        .import_django(&source)
        .await
        .map_err(|e| format!("importing from {location}: {e}"))?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
