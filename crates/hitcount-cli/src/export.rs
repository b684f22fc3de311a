//! `hitcount export`: totals or daily buckets as CSV or JSON, written row
//! by row as they stream from the database, to stdout or a file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use hitcount::HitCounter;

use crate::days::Days;
use crate::Failure;

/// What to export.
#[derive(Clone, Copy, clap::ValueEnum)]
enum What {
    /// Each object's totals: hits, views, bot hits.
    Totals,
    /// Each object's hits, views and bot hits per day (UTC), from the daily
    /// buckets.
    Daily,
}

impl What {
    /// The fields of a row, in the order of the CSV header.
    fn columns(self) -> &'static [&'static str] {
        match self {
            What::Totals => &["kind", "id", "hits", "views", "bot_hits"],
            What::Daily => &["kind", "id", "day", "hits", "views", "bot_hits"],
        }
    }
}

/// The output format.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Output {
    Csv,
    Json,
}

/// Options of `hitcount export`.
#[derive(clap::Args)]
pub struct Args {
    /// totals or daily.
    #[arg(value_enum, default_value = "totals")]
    what: What,
    /// csv or json (an array of objects).
    #[arg(long, value_enum, default_value = "csv")]
    format: Output,
    #[command(flatten)]
    days: Days,
    /// Only objects of this kind (e.g. blog.post).
    #[arg(long)]
    kind: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// One row's values, in the order of its columns.
type Values = Vec<serde_json::Value>;

/// Writes rows as CSV or as a JSON array, remembering the first write
/// error (the export stops there).
struct Writer<W: Write> {
    out: W,
    format: Output,
    columns: &'static [&'static str],
    rows: u64,
    error: Option<io::Error>,
}

impl<W: Write> Writer<W> {
    /// A writer that has written the CSV header (with no rows, the
    /// output is that header alone).
    fn start(mut out: W, format: Output, columns: &'static [&'static str]) -> io::Result<Writer<W>> {
        if let Output::Csv = format {
            writeln!(out, "{}", columns.join(","))?;
        }
        Ok(Writer {
            out,
            format,
            columns,
            rows: 0,
            error: None,
        })
    }

    fn row(&mut self, values: Values) -> ControlFlow<()> {
        let written = self.write(&values);
        self.rows += 1;
        match written {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }

    fn write(&mut self, values: &Values) -> io::Result<()> {
        match self.format {
            Output::Csv => {
                let fields: Vec<_> = values.iter().map(csv_field).collect();
                writeln!(self.out, "{}", fields.join(","))
            }
            Output::Json => {
                let object: serde_json::Map<_, _> = (self.columns.iter())
                    .zip(values)
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                let separator = if self.rows == 0 { "[\n" } else { ",\n" };
                write!(self.out, "{separator}{}", serde_json::Value::Object(object))
            }
        }
    }

    fn finish(mut self) -> io::Result<u64> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if let Output::Json = self.format {
            let close = if self.rows == 0 { "[]\n" } else { "\n]\n" };
            self.out.write_all(close.as_bytes())?;
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

/// A CSV field: quoted when it holds a comma, a quote or a line break.
fn csv_field(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

pub async fn run(counter: &HitCounter, args: &Args) -> Result<ExitCode, Failure> {
    let days = args.days.checked()?;
    if let (What::Totals, true) = (args.what, days.is_set()) {
        let flags = days.flags();
        return Err(format!(
            "totals have no days: {flags} is for daily buckets (hitcount export daily {flags})"
        ));
    }
    let out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?)
        }
        None => Box::new(io::stdout().lock()),
    };
    let target = args
        .output
        .as_ref()
        .map_or("standard output".to_owned(), |p| p.display().to_string());
    let cannot_write = |e: io::Error| format!("cannot write {target}: {e}");
    let mut writer =
        Writer::start(BufWriter::new(out), args.format, args.what.columns()).map_err(cannot_write)?;
    let kind = args.kind.as_deref();
    let read = match args.what {
        What::Totals => {
            counter
                .each_total(kind, |object, counts| {
                    writer.row(vec![
                        object.kind().into(),
                        object.id().into(),
                        counts.hits.into(),
                        counts.views.into(),
                        counts.bot_hits.into(),
                    ])
                })
                .await
        }
        What::Daily => {
            counter
                .each_day(kind, days.since, |object, day| {
                    if !days.contains(day.day) {
                        return ControlFlow::Continue(());
                    }
                    writer.row(vec![
                        object.kind().into(),
                        object.id().into(),
                        day.day.to_string().into(),
                        day.hits.into(),
                        day.views.into(),
                        day.bot_hits.into(),
                    ])
                })
                .await
        }
    };
    read.map_err(|e| e.to_string())?;
    let rows = writer.finish().map_err(cannot_write)?;
    if args.output.is_some() {
        eprintln!("exported {rows} rows to {target}");
    }
    Ok(ExitCode::SUCCESS)
}
