//! The blog's own table: three posts, created and seeded on first start,
//! on whichever database the site runs.

use hitcount::{Db, ObjectRef};
use rocket::fairing::{self, AdHoc};
use rocket::{error, Build, Rocket};
use rocket_db_pools::{sqlx, Database};
use serde::Serialize;

/// The object kind the blog counts its posts under.
pub const KIND: &str = "blog.post";

/// The posts a fresh database starts with (django-hitcount's example's).
const SEED: [(i64, &str, &str); 3] = [
    (
        1,
        "Hello World",
        "The first post of this blog. Open it in the three modes from the front page and watch its counts.",
    ),
    (
        2,
        "Catchy Title",
        "A second post, so that the front page has something to rank in its \"most viewed\" box.",
    ),
    (
        3,
        "Our third blog post",
        "The third post. Visit it twice: the second visit is not counted, but it is a view.",
    ),
];

/// A blog post.
///
/// ```
/// # rocket::async_test(async {
/// # let rocket = example_project::site(example_project::figment().merge(("databases.blog.url", "sqlite::memory:"))).ignite().await.unwrap();
/// let posts = rocket.state::<example_project::posts::Posts>().unwrap();
/// let post = posts.get(1).await.unwrap().expect("seeded");
/// assert_eq!((post.title.as_str(), post.hitcount.as_str()), ("Hello World", "blog.post:1"));
/// assert_eq!(post.object().to_string(), "blog.post:1");
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Post {
    /// The post's id, in its URLs.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// `"blog.post:<id>"`: what the hit-count template functions read,
    /// so that templates can say `get_hit_count(for=post)`.
    pub hitcount: String,
}

impl Post {
    fn new((id, title, body): (i64, String, String)) -> Post {
        Post {
            hitcount: format!("{KIND}:{id}"),
            id,
            title,
            body,
        }
    }

    /// The post as the counter names it.
    pub fn object(&self) -> ObjectRef {
        ObjectRef::new(KIND, self.id).expect("a post id is a valid object id")
    }
}

/// Runs `$body` with `$pool` bound to the concrete pool of a [`Db`].
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
            Db::MySql($pool) => $body,
            _ => unreachable!("the example enables SQLite, PostgreSQL and MariaDB only"),
        }
    };
}

/// Managed state: the blog's posts, on the site's database.
///
/// ```
/// # rocket::async_test(async {
/// # let rocket = example_project::site(example_project::figment().merge(("databases.blog.url", "sqlite::memory:"))).ignite().await.unwrap();
/// let posts = rocket.state::<example_project::posts::Posts>().unwrap();
/// assert_eq!(posts.all().await.unwrap().len(), 3);
/// assert_eq!(posts.get(404).await.unwrap(), None);
/// assert_eq!(posts.backend(), "SQLite");
/// # });
/// ```
pub struct Posts {
    db: Db,
}

impl Posts {
    /// Every post, by id.
    pub async fn all(&self) -> sqlx::Result<Vec<Post>> {
        let sql = "SELECT id, title, body FROM blog_post ORDER BY id";
        let rows = on_pool!(&self.db, pool => sqlx::query_as(sql).fetch_all(pool).await?);
        Ok(rows.into_iter().map(Post::new).collect())
    }

    /// The post with this id, if there is one.
    pub async fn get(&self, id: i64) -> sqlx::Result<Option<Post>> {
        let sql = match &self.db {
            Db::MySql(_) => "SELECT id, title, body FROM blog_post WHERE id = ?",
            _ => "SELECT id, title, body FROM blog_post WHERE id = $1",
        };
        let row = on_pool!(&self.db, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await?);
        Ok(row.map(Post::new))
    }

    /// The backend's name for the page footer: "SQLite", "PostgreSQL" or
    /// "MariaDB".
    pub fn backend(&self) -> &'static str {
        self.db.backend()
    }

    async fn create_and_seed(&self) -> sqlx::Result<()> {
        let create = "CREATE TABLE IF NOT EXISTS blog_post \
                      (id BIGINT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL)";
        let seed = match &self.db {
            Db::MySql(_) => "INSERT IGNORE INTO blog_post (id, title, body) VALUES (?, ?, ?)",
            _ => "INSERT INTO blog_post (id, title, body) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        };
        // Instances starting at once on one PostgreSQL take turns: its
        // concurrent `CREATE TABLE IF NOT EXISTS` can fail. The lock is
        // the transaction's, so it holds behind PgBouncer too.
        // READ COMMITTED first, so that an instance that waited sees what
        // the one before it committed, whatever the server's default.
        let lock: &[&str] = match &self.db {
            Db::Postgres(_) => &[
                "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
                "SELECT pg_advisory_xact_lock(7242014)",
            ],
            _ => &[],
        };
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for statement in lock {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            sqlx::query(create).execute(&mut *tx).await?;
            for (id, title, body) in SEED {
                sqlx::query(seed).bind(id).bind(title).bind(body).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// Creates and seeds the posts table on the pool of `D` (attached before)
/// and manages [`Posts`].
pub fn fairing<D>() -> AdHoc
where
    D: Database,
    D::Pool: Clone + Into<Db>,
{
    AdHoc::try_on_ignite("Blog posts", |rocket: Rocket<Build>| async move {
        let Some(database) = D::fetch(&rocket) else {
            error!("the blog's database is not attached");
            return Err(rocket) as fairing::Result;
        };
        let posts = Posts {
            db: (**database).clone().into(),
        };
        if let Err(e) = posts.create_and_seed().await {
            error!("the blog's posts table could not be set up: {e}");
            return Err(rocket);
        }
        Ok(rocket.manage(posts))
    })
}
