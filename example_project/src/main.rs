//! A walk through rocket-hitcount's counting rules on an embedded SQLite
//! file, which keeps its counts between runs (run it twice). The Rocket
//! blog of the example project replaces this with issue 5.

use hitcount::{Db, HitCounter, ObjectRef, Settings, User, Visitor, Window};

#[tokio::main]
async fn main() -> hitcount::Result<()> {
    let path = std::env::temp_dir().join("rocket-hitcount-example.db");
    let db = Db::connect(&format!("sqlite://{}", path.display())).await?;
    let counter = HitCounter::open(db, Settings::default()).await?;
    println!("Counting on {} ({})\n", counter.db().backend(), path.display());

    let post = ObjectRef::new("blog.post", 1)?;
    let browser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let visits = [
        (
            "a reader",
            Visitor::new("reader-session")?.with_user_agent(browser),
        ),
        (
            "the same reader again",
            Visitor::new("reader-session")?.with_user_agent(browser),
        ),
        (
            "a signed-in user",
            Visitor::new("alice-session")?
                .with_user_agent(browser)
                .with_user(User::new("alice")?),
        ),
        (
            "a search engine",
            Visitor::new("bot-session")?.with_user_agent("Googlebot/2.1"),
        ),
    ];
    for (who, visitor) in &visits {
        let visitor = visitor.clone().with_ip("192.0.2.1".parse().expect("valid IP"));
        let result = counter.count_hit(&post, &visitor).await?;
        println!("{who:>22}: {}", result.hit_message);
    }

    let counts = counter.counts(&post).await?;
    let today = counter.hits_in_last(&post, Window::days(1)).await?;
    println!(
        "\n\"Hello World\" (pk {}): {} hits, {} in the last day, {} views, {} bot hits",
        counts.pk.unwrap_or_default(),
        counts.hits,
        today,
        counts.views,
        counts.bot_hits
    );
    Ok(())
}
