//! Graceful shutdown under load, over real HTTP: every hit a client was
//! told is counted is stored, and every view a client was answered is
//! written once the app has flushed (the fairing flushes as shutdown
//! begins; the app flushes what the grace period served, as the guide
//! says, after `launch()` returns).

use std::collections::HashSet;
use std::time::Duration;

use rocket::serde::json::{json, Value};
use rocket_hitcount::HitCount;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::{figment, rocket_from};
use crate::common::TestDb;

storage_tests!(mariadb; shutdown_under_load_loses_no_acknowledged_hit_or_view);

/// One `GET` with `Connection: close`; the JSON body of a 200, or `None`
/// (refused, cut, or another status: not acknowledged).
async fn get(port: u16, path: &str, agent: &str) -> Option<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {agent}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok()?;
    let answer = String::from_utf8(answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| rocket::serde::json::from_str(body).ok())?
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn shutdown_under_load_loses_no_acknowledged_hit_or_view(db: &TestDb) {
    let port = free_port();
    // A budget no request of this load reaches: an answer "unavailable"
    // would leave its hit and view unknown.
    let figment = figment(db, json!({ "count_timeout": "20s" }))
        .merge(("port", port))
        .merge(("shutdown.ctrlc", false))
        .merge(("shutdown.signals", Vec::<String>::new()))
        .merge(("shutdown.grace", 1))
        .merge(("shutdown.mercy", 1));
    let rocket = rocket_from(db, figment).ignite().await.expect("the app ignites");
    let shutdown = rocket.shutdown();
    let server = tokio::spawn(rocket.launch());
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Eight clients, each cycling through five cookieless visitors (five
    // user agents): first visits count, the others are views.
    let clients: Vec<_> = (0..8)
        .map(|client| {
            tokio::spawn(async move {
                let (mut counted, mut views, mut unknown) = (HashSet::new(), 0_i64, 0_i64);
                for i in 0.. {
                    let agent = format!("Mozilla/5.0 (client {client}, visitor {})", i % 5);
                    let Some(answer) = get(port, "/post/1", &agent).await else {
                        break;
                    };
                    // The app's pool closes as shutdown begins: a request
                    // then may be answered "unavailable", its hit and view
                    // not known to be stored.
                    if answer["hit_message"] == hitcount::Reason::Unavailable.message() {
                        unknown += 1;
                        continue;
                    }
                    views += 1;
                    if answer["hit_counted"] == true {
                        assert!(counted.insert(agent), "a visitor counted twice");
                    }
                }
                (counted, views, unknown)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    shutdown.notify();
    let mut counted = HashSet::new();
    let (mut views, mut unknown) = (0, 0);
    for client in clients {
        let (hits, seen, not_known) = client.await.unwrap();
        counted.extend(hits);
        views += seen;
        unknown += not_known;
    }
    // Rocket reports a shutdown whose grace period ended with work still
    // holding it (a connection closing late) as an error that carries the
    // app; either way, the app writes what memory holds.
    let counter = match server.await.unwrap() {
        Ok(rocket) => HitCount::fetch(&rocket).unwrap().counter().clone(),
        Err(error) => match error.kind() {
            rocket::error::ErrorKind::Shutdown(rocket, _) => {
                HitCount::fetch(rocket).unwrap().counter().clone()
            }
            other => panic!("the app failed: {other}"),
        },
    };
    counter.flush_views().await.unwrap();

    assert!(views > 0 && !counted.is_empty(), "the load was served");

    let rows = db.scalar("SELECT COUNT(*) FROM hitcount_hit").await;
    let distinct = db
        .scalar("SELECT COUNT(DISTINCT session_key) FROM hitcount_hit")
        .await;
    assert_eq!(distinct, rows, "no visitor counted twice");
    let counted = counted.len() as i64;
    assert!(
        (counted..=counted + unknown).contains(&rows),
        "every acknowledged hit is stored: {rows} rows, {counted} acknowledged, {unknown} unknown"
    );
    let stored_views = db
        .scalar("SELECT CAST(COALESCE(SUM(views), 0) AS BIGINT) FROM hitcount_hit_count")
        .await;
    assert!(
        (views..=views + unknown).contains(&stored_views),
        "every view answered is written: {stored_views} stored, {views} answered, {unknown} unknown"
    );
}
