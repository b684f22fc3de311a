//! The `hitcount` binary against real databases (SQLite, PostgreSQL and
//! MariaDB):
//! django-hitcount's cleanup test, batching and continuing, stats, the
//! Rocket.toml lookup, databases that are not the app's left untouched,
//! and one clear line for every kind of bad input.

#[macro_use]
extern crate hitcount_testing;
use hitcount_testing as common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{TimeDelta, Utc};
use common::TestDb;
use hitcount::{HitCounter, ObjectRef, Visitor, Window};

storage_tests!(
    mariadb;
    cleanup_keeps_totals_and_windows,
    cleanup_runs_in_batches_and_continues,
    dry_run_only_counts,
    stats_rank_in_total_and_within_a_window,
    export_round_trips_totals_and_daily_buckets,
    import_django_keeps_totals_and_imports_once,
    foreign_databases_stay_untouched,
    empty_databases_need_create,
    reading_commands_write_nothing,
);

/// Runs `hitcount` with these arguments (and no inherited database
/// variables).
fn hitcount(args: &[&str]) -> Output {
    hitcount_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// [`hitcount`] run in the folder `dir`.
fn hitcount_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hitcount"))
        .args(args)
        .current_dir(dir)
        .env_remove("HITCOUNT_DATABASE_URL")
        .env_remove("ROCKET_CONFIG")
        .env_remove("ROCKET_PROFILE")
        .output()
        .expect("hitcount runs")
}

/// A folder of its own for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = Utc::now().timestamp_subsec_nanos();
        let dir = std::env::temp_dir().join(format!("hitcount-cli-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// Each row of `sql` on the test database, its columns as text joined
/// by `|`: for comparing what a database holds before and after.
async fn rows(db: &TestDb, sql: &str) -> Vec<String> {
    use hitcount::sqlx::{query, Row};
    macro_rules! texts {
        ($pool:expr) => {
            query(sql)
                .fetch_all($pool)
                .await
                .unwrap()
                .iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| row.get::<Option<String>, _>(i).unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect()
        };
    }
    match &db.db {
        hitcount::Db::Sqlite(pool) => texts!(pool),
        hitcount::Db::Postgres(pool) => texts!(pool),
        hitcount::Db::MySql(pool) => texts!(pool),
        _ => unreachable!(),
    }
}

/// The test database's tables (with their SQL or columns) and, on SQLite,
/// the file's bytes.
async fn snapshot(db: &TestDb) -> (Vec<String>, Option<Vec<u8>>) {
    if db.is_postgres() {
        let columns = "SELECT table_name || ' ' || column_name || ' ' || data_type \
                       FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1";
        (rows(db, columns).await, None)
    } else if db.is_mariadb() {
        let columns = "SELECT CONCAT(table_name, ' ', column_name, ' ', column_type) \
                       FROM information_schema.columns WHERE table_schema = DATABASE() ORDER BY 1";
        (rows(db, columns).await, None)
    } else {
        let schema =
            "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master ORDER BY name";
        let bytes = std::fs::read(sqlite_path(db)).unwrap();
        (rows(db, schema).await, Some(bytes))
    }
}

/// The file of a SQLite test database.
fn sqlite_path(db: &TestDb) -> PathBuf {
    PathBuf::from(db.url.strip_prefix("sqlite://").expect("a SQLite URL"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn post(id: i64) -> ObjectRef {
    ObjectRef::new("blog.post", id).unwrap()
}

/// A counter on the test database whose clock is real time (the binary's).
async fn counter(db: &TestDb) -> HitCounter {
    db.clock.set(Utc::now());
    db.counter(Default::default()).await
}

/// One hit on `object` at `now - ago`, by its own visitor.
async fn hit_ago(db: &TestDb, counter: &HitCounter, object: &ObjectRef, ago: TimeDelta, session: &str) {
    let now = Utc::now();
    db.clock.set(now - ago);
    let visitor = Visitor::new(session).unwrap();
    assert!(counter.count_hit(object, &visitor).await.unwrap().hit_counted);
    db.clock.set(now);
}

/// django-hitcount's cleanup test: hits 0, 5, ..., 45 days ago, keep 30
/// days: 6 rows remain, the total stays 10, and so do the 45 days' hits.
async fn cleanup_keeps_totals_and_windows(db: &TestDb) {
    let counter = counter(db).await;
    let now = db.clock.now();
    for i in 0..10 {
        db.clock.set(now - TimeDelta::days(5 * i));
        assert!(
            counter
                .count_hit(&post(1), &Visitor::new(format!("s-{i}")).unwrap())
                .await
                .unwrap()
                .hit_counted
        );
    }
    let output = hitcount(&["--database-url", &db.url, "cleanup", "--keep", "30 days"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("Successfully removed 4 Hits"),
        "{}",
        stdout(&output)
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 6);
    // Read as of the hits' "now": the oldest is exactly 45 days old.
    db.clock.set(now);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 10);
    assert_eq!(
        counter.hits_in_last(&post(1), Window::days(45)).await.unwrap(),
        10
    );
    let again = hitcount(&["--database-url", &db.url, "cleanup", "--keep", "days=30"]);
    assert!(stdout(&again).contains("Successfully removed 0 Hits"));
}

/// 100 000 old rows in batches of 1 000: at least 100 DELETEs; a run
/// stopped after 30 batches and a second run end where one run would.
async fn cleanup_runs_in_batches_and_continues(db: &TestDb) {
    let counter = counter(db).await;
    let pk = counter.register(&post(1)).await.unwrap();
    let generate = if db.is_postgres() {
        format!(
            "INSERT INTO hitcount_hit (hit_count_id, created_at, session_key, user_agent) \
             SELECT {pk}, TIMESTAMPTZ '2020-01-01 00:00:00+00', 's' || i, 'ua' FROM generate_series(1, 100000) i"
        )
    } else if db.is_mariadb() {
        format!(
            "INSERT INTO hitcount_hit (hit_count_id, created_at, session_key, user_agent) \
             SELECT {pk}, '2020-01-01 00:00:00', CONCAT('s', seq), 'ua' FROM seq_1_to_100000"
        )
    } else {
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
             INSERT INTO hitcount_hit (hit_count_id, created_at, session_key, user_agent) \
             SELECT {pk}, '2020-01-01T00:00:00+00:00', 's' || i, 'ua' FROM n"
        )
    };
    db.execute(&generate).await;
    hit_ago(db, &counter, &post(1), TimeDelta::zero(), "recent").await;
    let url = db.url.as_str();
    let report = |output: &Output| -> serde_json::Value {
        assert!(output.status.success(), "{}", stderr(output));
        serde_json::from_str(stdout(output).trim()).expect("a JSON report")
    };

    let first = report(&hitcount(&[
        "--database-url",
        url,
        "cleanup",
        "--batch-size",
        "1000",
        // Every batch 1 000 rows, however long it takes (not sized to
        // take 5 ms, SQLite's default), so 30 batches are 30 000 rows.
        "--batch-ms",
        "0",
        "--max-batches",
        "30",
        "--json",
    ]));
    assert_eq!(
        (first["removed"].as_u64(), first["statements"].as_u64()),
        (Some(30_000), Some(30))
    );
    assert_eq!(first["complete"], false);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit").await,
        70_001,
        "a consistent stop"
    );

    let second = report(&hitcount(&[
        "--database-url",
        url,
        "cleanup",
        "--batch-size",
        "1000",
        "--json",
    ]));
    assert_eq!(second["removed"].as_u64(), Some(70_000));
    assert!(second["statements"].as_u64().unwrap() >= 70);
    let statements = first["statements"].as_u64().unwrap() + second["statements"].as_u64().unwrap();
    assert!(
        statements >= 100,
        "{statements} DELETE statements for 100 000 rows in batches of 1 000"
    );
    assert_eq!(second["complete"], true);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit").await,
        1,
        "the recent hit stays"
    );
    assert_eq!(
        counter.counts(&post(1)).await.unwrap().hits,
        1,
        "totals are untouched"
    );
}

/// A dry run counts what would go and says from when: the cutoff, 30
/// days (keep_hit_in_database) before now.
async fn dry_run_only_counts(db: &TestDb) {
    let counter = counter(db).await;
    hit_ago(db, &counter, &post(1), TimeDelta::days(40), "old").await;
    hit_ago(db, &counter, &post(1), TimeDelta::days(1), "new").await;
    let output = hitcount(&["--database-url", &db.url, "cleanup", "--dry-run"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let cutoff = text
        .trim()
        .strip_prefix("Would remove 1 Hits (created before ")
        .and_then(|rest| rest.strip_suffix(" UTC)"))
        .unwrap_or_else(|| panic!("the count and the cutoff: {text}"));
    let cutoff = chrono::NaiveDateTime::parse_from_str(cutoff, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc();
    let expected = Utc::now() - TimeDelta::days(30);
    assert!(
        (expected - cutoff).abs() < TimeDelta::minutes(1),
        "{cutoff} is 30 days ago"
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 2);
}

/// The ranking in total, within a window and over days, with each
/// object's views (repeat visits) and bot hits beside its hits.
async fn stats_rank_in_total_and_within_a_window(db: &TestDb) {
    let counter = counter(db).await;
    for i in 0..3 {
        hit_ago(db, &counter, &post(1), TimeDelta::days(20), &format!("a-{i}")).await;
    }
    for i in 0..2 {
        hit_ago(db, &counter, &post(2), TimeDelta::hours(1), &format!("b-{i}")).await;
    }
    let wiki = ObjectRef::new("wiki.page", "intro").unwrap();
    hit_ago(db, &counter, &wiki, TimeDelta::hours(2), "c").await;
    // A repeat visit: a view, not a hit. A bot: a bot hit, not a hit.
    let again = counter
        .count_hit(&post(2), &Visitor::new("b-0").unwrap())
        .await
        .unwrap();
    assert!(!again.hit_counted);
    let bot = Visitor::new("bot")
        .unwrap()
        .with_user_agent("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
    assert!(!counter.count_hit(&post(2), &bot).await.unwrap().hit_counted);
    counter.flush_views().await.unwrap();
    let totals = counter.counts(&post(2)).await.unwrap();
    assert_eq!((totals.hits, totals.views, totals.bot_hits), (2, 3, 1));

    let words = |output: &Output| -> Vec<Vec<String>> {
        assert!(output.status.success(), "{}", stderr(output));
        stdout(output)
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect()
    };
    let total = words(&hitcount(&["--database-url", &db.url, "stats"]));
    assert_eq!(
        total[0],
        ["rank", "object", "total", "hits", "total", "views", "total", "bot", "hits"]
    );
    assert_eq!(total[1], ["1", "blog.post:1", "3", "3", "0"]);
    assert_eq!(total[2], ["2", "blog.post:2", "2", "3", "1"]);
    assert_eq!(total[3], ["3", "wiki.page:intro", "1", "1", "0"]);

    let week = hitcount(&[
        "--database-url",
        &db.url,
        "stats",
        "--within",
        "days=7",
        "--kind",
        "blog.post",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(stdout(&week).trim()).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!([{"rank": 1, "kind": "blog.post", "id": "2", "pk": totals.pk, "hits": 2, "views": 3, "bot_hits": 1}])
    );
    let limited = hitcount(&["--database-url", &db.url, "stats", "--limit", "1", "--json"]);
    let json: serde_json::Value = serde_json::from_str(stdout(&limited).trim()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);

    // Over days, from the daily buckets: 25 to 10 days ago holds post 1's
    // hits only; the last three hours' days hold the others.
    let day = |ago: TimeDelta| (Utc::now() - ago).date_naive().to_string();
    let (since, until) = (day(TimeDelta::days(25)), day(TimeDelta::days(10)));
    let past = words(&hitcount(&[
        "--database-url",
        &db.url,
        "stats",
        "--since",
        &since,
        "--until",
        &until,
    ]));
    assert_eq!(past[0][2..5], ["hits".to_owned(), since.clone(), "to".to_owned()]);
    assert_eq!(past[1], ["1", "blog.post:1", "3", "3", "0"]);
    assert_eq!(past.len(), 2, "{past:?}");
    let recent = hitcount(&[
        "--database-url",
        &db.url,
        "stats",
        "--since",
        &day(TimeDelta::hours(3)),
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(stdout(&recent).trim()).unwrap();
    let ranked: Vec<_> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["hits"].as_i64().unwrap()))
        .collect();
    assert_eq!(ranked, [("blog.post", 2), ("wiki.page", 1)]);
}

/// Daily buckets and totals exported as CSV and JSON give back the
/// numbers the counter reads; filters by kind and day; a file output.
async fn export_round_trips_totals_and_daily_buckets(db: &TestDb) {
    let counter = counter(db).await;
    let odd = ObjectRef::new("wiki.page", "a,b \"c\"").unwrap();
    let ago = [
        (post(1), 0, "a"),
        (post(1), 0, "b"),
        (post(1), 3, "c"),
        (post(2), 10, "d"),
        (odd.clone(), 1, "e"),
    ];
    for (object, days, session) in &ago {
        hit_ago(db, &counter, object, TimeDelta::days(*days), session).await;
    }
    let url = db.url.as_str();

    // Daily buckets as CSV: header, then one row per object and day.
    let csv = hitcount(&["--database-url", url, "export", "daily"]);
    assert!(csv.status.success(), "{}", stderr(&csv));
    let text = stdout(&csv);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("kind,id,day,hits,views,bot_hits"));
    let mut exported: Vec<(String, String, i64, i64, i64)> = Vec::new();
    for line in lines {
        // The odd id is the only quoted field: split it off first. The
        // fields after the id, last first: bot hits, views, hits, day.
        let (object, rest) = match line.strip_prefix("wiki.page,") {
            Some(rest) => {
                assert!(rest.starts_with("\"a,b \"\"c\"\"\","), "CSV quoting: {line}");
                (odd.to_string(), rest.rsplitn(5, ',').collect::<Vec<_>>())
            }
            None => {
                let fields: Vec<_> = line.split(',').collect();
                let mut rest = fields[2..].to_vec();
                rest.reverse();
                (format!("{}:{}", fields[0], fields[1]), rest)
            }
        };
        let number = |i: usize| rest[i].parse::<i64>().unwrap();
        exported.push((object, rest[3].to_owned(), number(2), number(1), number(0)));
    }
    let mut expected = Vec::new();
    for object in [post(1), post(2), odd.clone()] {
        for day in counter.daily_hits(&object, 30).await.unwrap() {
            if day.hits > 0 {
                // Each hit is a view of its day.
                assert_eq!(day.views, day.hits);
                expected.push((
                    object.to_string(),
                    day.day.to_string(),
                    day.hits,
                    day.views,
                    day.bot_hits,
                ));
            }
        }
    }
    exported.sort();
    expected.sort();
    assert_eq!(exported, expected, "the buckets round-trip");

    // The daily buckets as JSON, with these filters.
    let daily_json = |filters: &[&str]| {
        let output = hitcount(
            &[
                &["--database-url", url, "export", "daily", "--format", "json"],
                filters,
            ]
            .concat(),
        );
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_str::<serde_json::Value>(&stdout(&output)).expect("a JSON array")
    };
    // One kind, from a day on.
    let since = (Utc::now() - TimeDelta::days(5)).date_naive().to_string();
    let rows = daily_json(&["--kind", "blog.post", "--since", &since]);
    let hits: i64 = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["hits"].as_i64().unwrap())
        .sum();
    assert_eq!(
        hits, 3,
        "post 1's three hits; post 2's is older, the wiki page another kind"
    );
    // Up to a day: two days ago and before.
    let until = (Utc::now() - TimeDelta::days(2)).date_naive().to_string();
    let rows = daily_json(&["--until", &until]);
    let mut days: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r["hits"].as_i64().unwrap()))
        .collect();
    days.sort();
    assert_eq!(
        days,
        [("1".to_owned(), 1), ("2".to_owned(), 1)],
        "post 1's hit of 3 days ago, post 2's of 10"
    );

    // Totals to a file.
    let file = std::env::temp_dir().join(format!("hitcount-export-{}.json", std::process::id()));
    let totals = hitcount(&[
        "--database-url",
        url,
        "export",
        "totals",
        "--format",
        "json",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(totals.status.success(), "{}", stderr(&totals));
    assert!(stderr(&totals).contains("exported 3 rows"));
    let rows: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    std::fs::remove_file(&file).ok();
    assert_eq!(
        rows[0],
        serde_json::json!({"kind": "blog.post", "id": "1", "hits": 3, "views": 3, "bot_hits": 0})
    );
    assert_eq!(rows.as_array().unwrap().len(), 3);
    let empty = hitcount(&[
        "--database-url",
        url,
        "export",
        "--kind",
        "nothing.here",
        "--format",
        "json",
    ]);
    assert_eq!(stdout(&empty), "[]\n");
    // CSV with no rows: the header alone.
    for (what, header) in [
        ("totals", "kind,id,hits,views,bot_hits\n"),
        ("daily", "kind,id,day,hits,views,bot_hits\n"),
    ] {
        let empty = hitcount(&["--database-url", url, "export", what, "--kind", "nothing.here"]);
        assert!(empty.status.success(), "{}", stderr(&empty));
        assert_eq!(stdout(&empty), header);
    }
}

/// The database and the settings from the app's Rocket.toml, as Rocket
/// reads it (release profile by default).
#[tokio::test]
async fn rocket_toml_names_the_database_and_the_settings() {
    let db = TestDb::sqlite().await;
    let counter = counter(&db).await;
    hit_ago(&db, &counter, &post(1), TimeDelta::days(20), "old").await;
    counter.flush_views().await.unwrap();
    let dir = TempDir::new("rocket-toml");
    let toml = format!(
        "[release.databases.blog]\nurl = \"{}\"\n\n[release.hitcount]\nkeep_hit_in_database = \"10 days\"\n",
        db.url
    );
    let config = dir.0.join("Rocket.toml");
    std::fs::write(&config, toml).unwrap();
    let output = hitcount(&["--config", config.to_str().unwrap(), "cleanup", "--dry-run"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("Would remove 1 Hits (created before "),
        "keep_hit_in_database from the file: {}",
        stdout(&output)
    );
    // Rocket.toml in the working folder, found without --config.
    let found = hitcount_in(&dir.0, &["cleanup", "--dry-run"]);
    assert!(
        stdout(&found).starts_with("Would remove 1 Hits (created before "),
        "{}",
        stderr(&found)
    );

    std::fs::write(
        &config,
        format!(
            "[release.databases.a]\nurl = \"sqlite::memory:\"\n[release.databases.b]\nurl = \"{}\"\n",
            db.url
        ),
    )
    .unwrap();
    let several = hitcount(&["--config", config.to_str().unwrap(), "stats"]);
    assert!(
        stderr(&several).contains("several databases (a, b): pick one with --database"),
        "{}",
        stderr(&several)
    );
    let picked = hitcount(&["--config", config.to_str().unwrap(), "--database", "b", "stats"]);
    assert!(picked.status.success(), "{}", stderr(&picked));
    assert!(stdout(&picked).contains("blog.post:1"), "{}", stdout(&picked));
}

/// A missing or broken Rocket.toml, and a bad value in it, each said as
/// such, the value under its key as written in the file.
#[tokio::test]
async fn rocket_toml_mistakes_are_named() {
    let db = TestDb::sqlite().await;
    counter(&db).await;
    let url = db.url.as_str();
    let dir = TempDir::new("rocket-toml-mistakes");
    let config = dir.0.join("Rocket.toml");
    let path = config.to_str().unwrap();
    let fails = |args: &[&str], message: &str| {
        let output = hitcount_in(&dir.0, args);
        assert!(!output.status.success(), "{args:?} must fail");
        let err = stderr(&output);
        assert!(err.contains(message), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    };

    // No Rocket.toml where none was named: normal with --database-url.
    let without = hitcount_in(&dir.0, &["--database-url", url, "stats"]);
    assert!(without.status.success(), "{}", stderr(&without));
    fails(
        &["stats"],
        "no database: pass --database-url, set HITCOUNT_DATABASE_URL, or run where Rocket.toml names one",
    );
    // One named must exist, --database-url or not.
    let missing = dir.0.join("Missing.toml");
    let missing_message = format!("config file {} does not exist", missing.display());
    for args in [
        &["--config", missing.to_str().unwrap(), "stats"][..],
        &[
            "--config",
            missing.to_str().unwrap(),
            "--database-url",
            url,
            "stats",
        ][..],
    ] {
        fails(args, &missing_message);
    }

    std::fs::write(&config, "[default.hitcount\nkeep_hit_active = \"7 days\"\n").unwrap();
    let syntax =
        format!("config file {path} has a TOML syntax error at line 1, column 18: invalid table header");
    fails(&["--database-url", url, "stats"], &syntax);
    fails(&["--config", path, "--database-url", url, "stats"], &syntax);

    std::fs::write(&config, "[default.hitcount]\nkeep_hit_active = \"forever\"\n").unwrap();
    fails(
        &["--database-url", url, "stats"],
        &format!("invalid setting default.hitcount.keep_hit_active in {path}: invalid duration \"forever\""),
    );
    std::fs::write(&config, "[release.hitcount]\nkeep_hit_active = \"0 days\"\n").unwrap();
    fails(
        &["--database-url", url, "stats"],
        &format!("invalid setting hitcount.keep_hit_active = \"0 days\" in {path}: must be longer than zero"),
    );
}

/// Bad input: one line on standard error naming the problem, a non-zero
/// exit, and nothing written.
#[tokio::test]
async fn bad_input_is_one_clear_line() {
    let db = TestDb::sqlite().await;
    let counter = counter(&db).await;
    hit_ago(&db, &counter, &post(1), TimeDelta::days(40), "old").await;
    let url = db.url.as_str();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--database-url", url, "export", "totals", "--since", "2026-01-01"],
            "totals have no days: --since 2026-01-01 is for daily buckets (hitcount export daily --since 2026-01-01)",
        ),
        (
            &["--database-url", url, "export", "--until", "2026-01-01"],
            "totals have no days: --until 2026-01-01 is for daily buckets",
        ),
        (
            &["--database-url", url, "export", "daily", "--since", "yesterday"],
            "expected a day like 2026-11-22",
        ),
        (
            &["--database-url", url, "stats", "--since", "2026-02-01", "--until", "2026-01-01"],
            "--until 2026-01-01 is before --since 2026-02-01",
        ),
        (
            &["--database-url", url, "stats", "--within", "days=7", "--since", "2026-01-01"],
            "the argument '--within <WITHIN>' cannot be used with '--since <DAY>'",
        ),
        (
            &["--database-url", url, "export", "-o", "/nonexistent/folder/x.csv"],
            "cannot write /nonexistent/folder/x.csv",
        ),
        (
            &["--database-url", "mongodb://localhost/x", "stats"],
            "invalid database URL \"mongodb://localhost/x\": expected a SQLite file (PATH, sqlite:PATH or sqlite://PATH), postgres://user@host/db or mysql://user@host/db",
        ),
        (
            &["--database-url", "sqlite::memory:", "stats"],
            "an in-memory database ends with the command that made it",
        ),
        (
            &["--database-url", "postgres://user:secret@127.0.0.1:1/x", "stats"],
            "refused",
        ),
        (
            &["--database-url", "mysql://user:secret@127.0.0.1:1/x", "stats"],
            "refused",
        ),
        (
            &["--database-url", url, "import-django", "mysql://user:secret@127.0.0.1:1/x"],
            "refused",
        ),
        (
            &["--database-url", url, "cleanup", "--keep", "a fortnight"],
            "invalid duration \"a fortnight\"",
        ),
        (
            &["--database-url", url, "stats", "--within", "days=1, hours=2"],
            "--within",
        ),
        (
            &["--database-url", url, "stats", "--within", "0 days"],
            "invalid value '0 days' for '--within <WITHIN>': a window of no time holds no hits",
        ),
        (
            &["--database-url", url, "cleanup", "--keep", "1 day"],
            "invalid --keep \"1 day\": must be at least keep_hit_active (days=7)",
        ),
        (
            &["--database-url", url, "cleanup", "--keep", "1 second"],
            "invalid --keep \"1 second\": must be at least keep_hit_active (days=7): cleanup would delete hits that are still active",
        ),
        (
            &["--database-url", url, "cleanup", "--batch-size", "0"],
            "invalid value '0' for '--batch-size <ROWS>': must be at least 1 row",
        ),
        (
            &["--database-url", url, "cleanup", "--pause-ms", "soon"],
            "invalid value 'soon' for '--pause-ms <PAUSE_MS>'",
        ),
        (
            &["--database-url", url, "cleanup", "--batch-ms=-5"],
            "invalid value '-5' for '--batch-ms <BATCH_MS>'",
        ),
        (
            &["--database-url", url, "cleanup", "--dry-run", "--create"],
            "the argument '--dry-run' cannot be used with '--create'",
        ),
    ];
    for (args, message) in cases {
        let output = hitcount(args);
        assert!(!output.status.success(), "{args:?} must fail");
        let err = stderr(&output);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("secret"), "passwords stay out of messages: {err}");
        // Said of the flag as given, not of a setting.
        for setting in [
            "keep_hit_in_database",
            "cleanup_batch_size",
            "seconds=1",
            "(with the matching",
        ] {
            assert!(!err.contains(setting), "{args:?}: {err}");
        }
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
    let unknown = hitcount(&["frobnicate"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("unrecognized subcommand 'frobnicate'"));
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit").await,
        1,
        "nothing was removed"
    );
}

/// The options naming the database are under their own heading, in the
/// command's help and each subcommand's, apart from the subcommand's own.
#[test]
fn help_puts_the_database_options_apart() {
    for args in [
        &["--help"][..],
        &["stats", "--help"],
        &["cleanup", "--help"],
        &["export", "--help"],
    ] {
        let output = hitcount(args);
        assert!(output.status.success());
        let help = stdout(&output);
        let (own, database) = help
            .split_once("\nDatabase:\n")
            .unwrap_or_else(|| panic!("{args:?}: a Database heading: {help}"));
        for option in ["--database-url <URL>", "--config <FILE>", "--database <NAME>"] {
            assert!(database.contains(option), "{args:?}: {help}");
            assert!(!own.contains(option), "{args:?}: {help}");
        }
    }
}

/// Ctrl-C stops between batches: what was removed stays removed, the rest
/// stays, and a second run finishes.
#[tokio::test]
async fn interrupted_cleanup_is_consistent_and_continues() {
    let db = TestDb::sqlite().await;
    let counter = counter(&db).await;
    let pk = counter.register(&post(1)).await.unwrap();
    db.execute(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) \
         INSERT INTO hitcount_hit (hit_count_id, created_at, session_key, user_agent) \
         SELECT {pk}, '2020-01-01T00:00:00+00:00', 's' || i, 'ua' FROM n"
    ))
    .await;
    let child = Command::new(env!("CARGO_BIN_EXE_hitcount"))
        // Fixed batches of 100 rows, so whole batches show in the count.
        .args([
            "--database-url",
            &db.url,
            "cleanup",
            "--batch-size",
            "100",
            "--batch-ms",
            "0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let it remove some batches, then interrupt it as Ctrl-C would.
    let started = std::time::Instant::now();
    while db.scalar("SELECT COUNT(*) FROM hitcount_hit").await == 200_000 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "cleanup never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let left = db.scalar("SELECT COUNT(*) FROM hitcount_hit").await;
    if output.status.code() == Some(130) {
        assert!(stderr(&output).contains("interrupted"), "{}", stderr(&output));
        assert!(left > 0 && left < 200_000, "{left}");
        assert_eq!(left % 100, 0, "whole batches only: {left}");
    } else {
        // It finished before the signal arrived: nothing to continue.
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let again = hitcount(&["--database-url", &db.url, "cleanup"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 0);
    assert_eq!(
        counter.counts(&post(1)).await.unwrap().hits,
        0,
        "the generated rows were never counted"
    );
}

/// django-hitcount 1.3.5's own database (written by Django; see
/// tests/fixtures/README.md).
const DJANGO_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/django-hitcount-1.3.5.sqlite3"
);

/// When the fixture was written: its hit times count back from this.
fn generated_at() -> chrono::DateTime<Utc> {
    let expected: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/django-hitcount-1.3.5.expected.json")).unwrap();
    expected["generated_at"].as_str().unwrap().parse().unwrap()
}

/// Checks what the fixture's import leaves in `db`, against its README:
/// totals 10, 104 (with only 4 hit rows) and 0; 14 hit rows with their
/// buckets; both blacklists.
async fn check_imported_fixture(db: &TestDb) {
    db.clock.set(generated_at());
    let counter = db.counter(Default::default()).await;
    let mut hits = Vec::new();
    for id in [1, 2, 3] {
        let counts = counter.counts(&post(id)).await.unwrap();
        assert!(counts.pk.is_some(), "post {id} has a row");
        hits.push(counts.hits);
    }
    assert_eq!(hits, [10, 104, 0]);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 14);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit WHERE user_id = '1'")
            .await,
        1,
        "alice's hit"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit WHERE ip LIKE '192.0.2.%'")
            .await,
        0,
        "IPs stored hashed"
    );
    // Windows from the buckets, as of the fixture's time.
    assert_eq!(counter.hits_in_last(&post(1), Window::days(7)).await.unwrap(), 2);
    assert_eq!(
        counter.hits_in_last(&post(1), Window::days(46)).await.unwrap(),
        10
    );
    assert_eq!(
        counter.hits_in_last(&post(2), Window::hours(10)).await.unwrap(),
        4
    );
    assert_eq!(
        common::blacklist_values(&counter).await,
        (vec!["203.0.113.9".to_owned()], vec!["EvilBot/1.0".to_owned()])
    );
}

const IMPORTED: &str = "Imported 3 objects (114 hits in their totals), 14 hit rows, 1 blacklisted IPs and 1 blacklisted user agents";
const NOTHING_NEW: &str = "Imported 0 objects (0 hits in their totals), 0 hit rows, 0 blacklisted IPs and 0 blacklisted user agents";

/// The real django-hitcount database into each backend; twice.
async fn import_django_keeps_totals_and_imports_once(db: &TestDb) {
    // A new database: hitcount's tables made as asked.
    let first = hitcount(&[
        "--database-url",
        &db.url,
        "import-django",
        "--create",
        DJANGO_FIXTURE,
    ]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(stdout(&first).trim(), IMPORTED);
    check_imported_fixture(db).await;
    let second = hitcount(&[
        "--database-url",
        &db.url,
        "import-django",
        &format!("sqlite://{DJANGO_FIXTURE}"),
    ]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&second).trim(), NOTHING_NEW);
    check_imported_fixture(db).await;
}

/// The same rows in a PostgreSQL database laid out as Django lays out
/// django-hitcount's tables there, imported into SQLite; twice.
#[tokio::test]
async fn import_django_from_postgres() {
    let Some(django) = TestDb::postgres().await else {
        return;
    };
    django
        .execute(
            "CREATE TABLE django_content_type (id serial PRIMARY KEY, app_label varchar(100) NOT NULL, \
               model varchar(100) NOT NULL);
             CREATE TABLE hitcount_hit_count (id serial PRIMARY KEY, hits integer NOT NULL CHECK (hits >= 0), \
               modified timestamptz NOT NULL, content_type_id integer NOT NULL REFERENCES django_content_type (id), \
               object_pk integer NOT NULL CHECK (object_pk >= 0));
             CREATE TABLE hitcount_hit (id serial PRIMARY KEY, created timestamptz NOT NULL, ip varchar(40) NOT NULL, \
               user_agent varchar(255) NOT NULL, hitcount_id integer NOT NULL REFERENCES hitcount_hit_count (id), \
               user_id integer NULL, session varchar(40) NOT NULL);
             CREATE TABLE hitcount_blacklist_ip (id serial PRIMARY KEY, ip varchar(40) NOT NULL UNIQUE);
             CREATE TABLE hitcount_blacklist_user_agent (id serial PRIMARY KEY, user_agent varchar(255) NOT NULL UNIQUE);",
        )
        .await;
    import_django_from(django).await;
}

/// The same in a MariaDB database laid out as Django 5.2 lays out
/// django-hitcount 1.3.5's tables there (`SHOW CREATE TABLE` after its
/// migrations; without the foreign key to `auth_user`).
#[tokio::test]
async fn import_django_from_mariadb() {
    let Some(django) = TestDb::mariadb().await else {
        return;
    };
    django
        .execute(
            "CREATE TABLE django_content_type (id int(11) NOT NULL AUTO_INCREMENT, app_label varchar(100) NOT NULL, \
               model varchar(100) NOT NULL, PRIMARY KEY (id), UNIQUE KEY (app_label, model)) \
               ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
             CREATE TABLE hitcount_hit_count (id int(11) NOT NULL AUTO_INCREMENT, \
               hits int(10) unsigned NOT NULL CHECK (hits >= 0), modified datetime(6) NOT NULL, \
               object_pk int(10) unsigned NOT NULL, content_type_id int(11) NOT NULL, PRIMARY KEY (id), \
               UNIQUE KEY (content_type_id, object_pk), \
               FOREIGN KEY (content_type_id) REFERENCES django_content_type (id), CHECK (object_pk >= 0)) \
               ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
             CREATE TABLE hitcount_hit (id int(11) NOT NULL AUTO_INCREMENT, created datetime(6) NOT NULL, \
               ip varchar(40) NOT NULL, session varchar(40) NOT NULL, user_agent varchar(255) NOT NULL, \
               hitcount_id int(11) NOT NULL, user_id int(11) DEFAULT NULL, PRIMARY KEY (id), KEY (hitcount_id), \
               KEY (user_id), KEY (created), KEY (ip), KEY (session), \
               FOREIGN KEY (hitcount_id) REFERENCES hitcount_hit_count (id)) \
               ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
             CREATE TABLE hitcount_blacklist_ip (id int(11) NOT NULL AUTO_INCREMENT, ip varchar(40) NOT NULL, \
               PRIMARY KEY (id), UNIQUE KEY (ip)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
             CREATE TABLE hitcount_blacklist_user_agent (id int(11) NOT NULL AUTO_INCREMENT, \
               user_agent varchar(255) NOT NULL, PRIMARY KEY (id), UNIQUE KEY (user_agent)) \
               ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;",
        )
        .await;
    import_django_from(django).await;
}

/// Copies every row of the Django fixture into `django`'s tables (Django
/// writes times in UTC, without a zone), then imports it into SQLite;
/// twice.
async fn import_django_from(django: TestDb) {
    let fixture = hitcount::sqlx::SqlitePool::connect(&format!("sqlite://{DJANGO_FIXTURE}?mode=ro"))
        .await
        .unwrap();
    let copy = |select: &'static str, table: &'static str, casts: &'static [&'static str]| {
        let (fixture, django) = (fixture.clone(), &django);
        async move {
            let rows: Vec<Vec<Option<String>>> = {
                use hitcount::sqlx::Row;
                hitcount::sqlx::query(select)
                    .fetch_all(&fixture)
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| (0..row.len()).map(|i| row.get::<Option<String>, _>(i)).collect())
                    .collect()
            };
            // Each value is bound as text, cast where PostgreSQL needs it.
            macro_rules! insert {
                ($pool:expr, $param:expr) => {
                    let values: Vec<String> = casts
                        .iter()
                        .enumerate()
                        .map(|(i, cast)| $param(i, cast))
                        .collect();
                    let insert = format!("INSERT INTO {table} VALUES ({})", values.join(", "));
                    for row in &rows {
                        let mut query = hitcount::sqlx::query(&insert);
                        for value in row {
                            query = query.bind(value);
                        }
                        query.execute($pool).await.unwrap();
                    }
                };
            }
            match &django.db {
                hitcount::Db::Postgres(pool) => {
                    insert!(pool, |i: usize, cast: &&str| match *cast {
                        "" => format!("${}", i + 1),
                        "timestamptz" => format!("CAST(${} || '+00' AS timestamptz)", i + 1),
                        cast => format!("CAST(${} AS {cast})", i + 1),
                    });
                }
                hitcount::Db::MySql(pool) => {
                    insert!(pool, |_, _: &&str| "?".to_owned());
                }
                _ => unreachable!(),
            }
        }
    };
    copy(
        "SELECT CAST(id AS TEXT), app_label, model FROM django_content_type",
        "django_content_type (id, app_label, model)",
        &["integer", "", ""],
    )
    .await;
    copy(
        "SELECT CAST(id AS TEXT), CAST(hits AS TEXT), modified, CAST(content_type_id AS TEXT), CAST(object_pk AS TEXT) FROM hitcount_hit_count",
        "hitcount_hit_count (id, hits, modified, content_type_id, object_pk)",
        &["integer", "integer", "timestamptz", "integer", "integer"],
    )
    .await;
    copy(
        "SELECT CAST(id AS TEXT), created, ip, user_agent, CAST(hitcount_id AS TEXT), CAST(user_id AS TEXT), session FROM hitcount_hit",
        "hitcount_hit (id, created, ip, user_agent, hitcount_id, user_id, session)",
        &["integer", "timestamptz", "", "", "integer", "integer", ""],
    )
    .await;
    copy(
        "SELECT CAST(id AS TEXT), ip FROM hitcount_blacklist_ip",
        "hitcount_blacklist_ip (id, ip)",
        &["integer", ""],
    )
    .await;
    copy(
        "SELECT CAST(id AS TEXT), user_agent FROM hitcount_blacklist_user_agent",
        "hitcount_blacklist_user_agent (id, user_agent)",
        &["integer", ""],
    )
    .await;
    assert_eq!(
        django.scalar("SELECT COUNT(*) FROM hitcount_hit").await,
        14,
        "the copy is whole"
    );

    let db = TestDb::sqlite().await;
    let first = hitcount(&[
        "--database-url",
        &db.url,
        "import-django",
        &django.url,
        "--create",
    ]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(stdout(&first).trim(), IMPORTED);
    check_imported_fixture(&db).await;
    let second = hitcount(&["--database-url", &db.url, "import-django", &django.url]);
    assert_eq!(stdout(&second).trim(), NOTHING_NEW);
    check_imported_fixture(&db).await;
}

/// A source that is not a django-hitcount database is refused with one
/// line, and nothing is imported (or created).
#[tokio::test]
async fn import_django_refuses_other_databases() {
    let db = TestDb::sqlite().await;
    counter(&db).await;
    let not_django = TestDb::sqlite().await;
    counter(&not_django).await;
    let output = hitcount(&["--database-url", &db.url, "import-django", &not_django.url]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is not a django-hitcount database: it has no django_content_type"),
        "{}",
        stderr(&output)
    );
    let missing = "/nonexistent/django.sqlite3";
    let output = hitcount(&["--database-url", &db.url, "import-django", missing]);
    assert!(
        stderr(&output).contains("no Django database at /nonexistent/django.sqlite3"),
        "{}",
        stderr(&output)
    );
    assert!(!std::path::Path::new(missing).exists());
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit_count").await, 0);
    // The source is checked first: a wrong one creates no target, even
    // with --create.
    let dir = TempDir::new("import-target");
    let target = dir.0.join("new.db");
    for source in [missing, not_django.url.as_str()] {
        let output = hitcount(&[
            "--database-url",
            target.to_str().unwrap(),
            "import-django",
            "--create",
            source,
        ]);
        assert!(!output.status.success(), "{source}");
        assert!(!target.exists(), "{source}: {}", stderr(&output));
    }
}

/// The message of a database with other tables than hitcount's.
const OTHER_TABLES: &str = "has other tables (posts) but not hitcount's";

/// A database with a table of its own and none of hitcount's: every
/// command refuses it, and it stays as it was, to the byte on SQLite;
/// with --create, hitcount's tables are added beside its own.
async fn foreign_databases_stay_untouched(db: &TestDb) {
    db.execute(
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT NOT NULL); \
         INSERT INTO posts (id, title) VALUES (1, 'Hello');",
    )
    .await;
    let before = snapshot(db).await;
    let url = db.url.as_str();
    let reading = format!("{OTHER_TABLES}: is it the app's database?");
    let writing = format!("{OTHER_TABLES}: pass --create to add hitcount's tables to it");
    let cases: [(&[&str], &str); 7] = [
        (&["stats"], &reading),
        (&["export"], &reading),
        (&["export", "daily", "--format", "json"], &reading),
        (&["cleanup", "--dry-run"], &reading),
        (&["cleanup"], &writing),
        (&["cleanup", "--keep", "90 days", "--json"], &writing),
        (&["import-django", DJANGO_FIXTURE], &writing),
    ];
    for (args, message) in cases {
        let output = hitcount(&[&["--database-url", url], args].concat());
        assert!(!output.status.success(), "{args:?} must fail");
        let err = stderr(&output);
        assert!(err.contains(message), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(stdout(&output).is_empty(), "{args:?}");
        assert!(snapshot(db).await == before, "{args:?} changed the database");
    }

    let created = hitcount(&["--database-url", url, "import-django", "--create", DJANGO_FIXTURE]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert_eq!(stdout(&created).trim(), IMPORTED);
    assert_eq!(
        rows(db, "SELECT title FROM posts").await,
        ["Hello"],
        "its own table kept"
    );
    let stats = hitcount(&["--database-url", url, "stats"]);
    assert!(stdout(&stats).contains("blog.post:2"), "{}", stderr(&stats));
}

/// A database with no tables at all: reading refuses it; writing makes
/// hitcount's tables only with --create.
async fn empty_databases_need_create(db: &TestDb) {
    let url = db.url.as_str();
    for (args, message) in [
        (&["stats"][..], "has no tables: is it the app's database?"),
        (
            &["cleanup"],
            "has no tables: pass --create to add hitcount's tables to it",
        ),
    ] {
        let output = hitcount(&[&["--database-url", url], args].concat());
        assert!(!output.status.success(), "{args:?} must fail");
        assert!(stderr(&output).contains(message), "{args:?}: {}", stderr(&output));
    }
    assert!(snapshot(db).await.0.is_empty(), "no table was made");
    let created = hitcount(&["--database-url", url, "cleanup", "--create"]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert_eq!(stdout(&created).trim(), "Successfully removed 0 Hits");
    let stats = hitcount(&["--database-url", url, "stats"]);
    assert!(stats.status.success(), "{}", stderr(&stats));
    assert!(stdout(&stats).ends_with("(no hits)\n"), "{}", stdout(&stats));
}

/// The commands that read (stats, export, cleanup --dry-run) write
/// nothing to the app's database either, not even the IP hash key an
/// opening counter stores where there is none.
async fn reading_commands_write_nothing(db: &TestDb) {
    let counter = counter(db).await;
    hit_ago(db, &counter, &post(1), TimeDelta::days(40), "old").await;
    db.execute("UPDATE hitcount_state SET ip_hash_key = NULL").await;
    let count = "SELECT COUNT(*) FROM hitcount_state WHERE ip_hash_key IS NULL";
    for args in [
        &["stats"][..],
        &["stats", "--since", "2020-01-01"],
        &["export", "daily"],
        &["cleanup", "--dry-run"],
    ] {
        let output = hitcount(&[&["--database-url", db.url.as_str()], args].concat());
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert_eq!(db.scalar(count).await, 1, "{args:?} wrote a key");
    }
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 1);
}

/// A SQLite file that does not exist is never made by a typo: reading
/// commands and writing ones without --create refuse it; --create makes
/// it. A plain path names a file as sqlite:PATH does.
#[tokio::test]
async fn missing_sqlite_files_are_not_created() {
    let dir = TempDir::new("missing");
    let file = dir.0.join("missing.db");
    let path = file.to_str().unwrap();
    for url in [
        path.to_owned(),
        format!("sqlite:{path}"),
        format!("sqlite://{path}"),
    ] {
        for args in [&["stats"][..], &["export"], &["cleanup", "--dry-run"]] {
            let output = hitcount(&[&["--database-url", url.as_str()], args].concat());
            assert!(!output.status.success(), "{url} {args:?} must fail");
            assert!(
                stderr(&output).contains(&format!("no database at {path}: there is no such file")),
                "{url} {args:?}: {}",
                stderr(&output)
            );
            assert!(!file.exists(), "{url} {args:?} made the file");
        }
        for args in [&["cleanup"][..], &["import-django", DJANGO_FIXTURE]] {
            let output = hitcount(&[&["--database-url", url.as_str()], args].concat());
            assert!(!output.status.success(), "{url} {args:?} must fail");
            assert!(
                stderr(&output).contains(&format!("no database at {path}: pass --create to make a new one")),
                "{url} {args:?}: {}",
                stderr(&output)
            );
            assert!(!file.exists(), "{url} {args:?} made the file");
        }
    }
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        0,
        "nothing beside it either"
    );

    let created = hitcount(&[
        "--database-url",
        path,
        "import-django",
        "--create",
        DJANGO_FIXTURE,
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert_eq!(stdout(&created).trim(), IMPORTED);
    // The plain path and both URL forms name the same file.
    for url in [
        path.to_owned(),
        format!("sqlite:{path}"),
        format!("sqlite://{path}"),
    ] {
        let stats = hitcount(&["--database-url", &url, "stats", "--json", "--limit", "1"]);
        let json: serde_json::Value = serde_json::from_str(stdout(&stats).trim()).expect("JSON");
        assert_eq!(json[0]["hits"], 104, "{url}");
    }
}
