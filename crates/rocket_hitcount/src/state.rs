//! The managed state: what the fairing sets up once (the counter, the
//! configuration, the keys) and every guard, route and template function
//! reads.

use std::sync::Arc;

use hitcount::HitCounter;
use rocket::{error, info_, Phase, Rocket};

use crate::config::Config;
use crate::secret::{Cipher, DailySecret, Secret};
use crate::user::UserLookup;

/// The hit counter of a Rocket app: managed state, set up by the fairing
/// from [`HitCount::init`].
///
/// ```rust,no_run
/// use rocket_db_pools::{sqlx, Database};
/// use rocket_hitcount::HitCount;
///
/// #[derive(Database)]
/// #[database("blog")]
/// struct Blog(sqlx::SqlitePool);
///
/// #[rocket::launch]
/// fn rocket() -> _ {
///     rocket::build()
///         .attach(Blog::init())
///         .attach(HitCount::init::<Blog>())
/// }
/// ```
#[derive(Clone)]
pub struct HitCount {
    counter: HitCounter,
    config: Config,
    secret: Secret,
    cookie_cipher: Cipher,
    cookieless_keys: Arc<DailySecret>,
    users: Option<UserLookup>,
}

impl HitCount {
    /// The state of a counter opened with `config`: the keys are derived
    /// from `secret`.
    pub(crate) fn new(
        counter: HitCounter,
        config: Config,
        secret: Secret,
        users: Option<UserLookup>,
    ) -> HitCount {
        HitCount {
            counter,
            config,
            // A purpose of its own: signed cookies sign under "visitor cookie".
            cookie_cipher: Cipher::derive(&secret, "visitor cookie encryption"),
            secret,
            cookieless_keys: Arc::default(),
            users,
        }
    }

    /// The counter of a launched (or ignited) app, like `Db::fetch`.
    ///
    /// ```rust
    /// # rocket::async_test(async {
    /// let rocket = rocket::build().ignite().await.unwrap();
    /// assert!(rocket_hitcount::HitCount::fetch(&rocket).is_none(), "not attached");
    /// # });
    /// ```
    pub fn fetch<P: Phase>(rocket: &Rocket<P>) -> Option<&HitCount> {
        rocket.state::<HitCount>()
    }

    /// The core counter, for everything the guards do not cover (lists,
    /// admin operations, cleanup).
    pub fn counter(&self) -> &HitCounter {
        &self.counter
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    pub(crate) fn cookie_cipher(&self) -> &Cipher {
        &self.cookie_cipher
    }

    pub(crate) fn cookieless_keys(&self) -> &DailySecret {
        &self.cookieless_keys
    }

    pub(crate) fn users(&self) -> Option<UserLookup> {
        self.users
    }
}

/// Whether `rocket` lacks the counter that guard `guard` needs; if so,
/// says which fairing to attach. For the guards' [`rocket::Sentinel`]s.
pub(crate) fn unattached(rocket: &Rocket<rocket::Ignite>, guard: &str) -> bool {
    let missing = HitCount::fetch(rocket).is_none();
    if missing {
        error!("rocket-hitcount: a route uses `{guard}`, but the rocket-hitcount fairing is not attached");
        info_!("Attach it after your database's: `.attach(Db::init()).attach(HitCount::init::<Db>())`.");
    }
    missing
}
