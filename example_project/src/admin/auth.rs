//! The admin's login: who may log in (`[admin]` settings), server-side
//! sessions behind a private cookie, a back-off on failed logins per
//! client address and per user name, and password checks on Tokio's
//! blocking threads.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use rocket::fairing::AdHoc;
use rocket::form::{Form, FromForm};
use rocket::http::{Cookie, CookieJar, Header, SameSite, Status};
use rocket::request::{FlashMessage, FromRequest, Outcome, Request};
use rocket::response::{Flash, Redirect};
use rocket::tokio::sync::Semaphore;
use rocket::tokio::task::spawn_blocking;
use rocket::{get, post, State};
use rocket_hitcount::{CsrfToken, DashboardError, Hits, LoginPage};
use serde::{Deserialize, Deserializer};
use subtle::ConstantTimeEq;

/// The admin's private (encrypted) session cookie: the id of a session
/// this process keeps.
const SESSION_COOKIE: &str = "example_admin";

/// Password checks that may run at once. Argon2 takes tens of
/// milliseconds of a core and 19 MiB each; two leave the other cores
/// and Rocket's workers to the site.
const PARALLEL_PASSWORD_CHECKS: usize = 2;

/// The most client addresses and user names the back-off tracks; past
/// it the oldest is forgotten, so a flood of names cannot exhaust memory.
const MAX_TRACKED_KEYS: usize = 10_000;

/// User names are kept for the back-off cut to this many bytes, so long
/// variants of one name share its count.
const MAX_KEPT_USER_NAME: usize = 150;

/// `[default.admin]`: who may log in, and how the login behaves.
#[derive(Debug, Deserialize)]
pub struct AdminConfig {
    /// The admin's user name.
    pub user: String,
    /// An Argon2 hash (PHC string) of the password, as printed by
    /// `cargo run -p example_project -- hash-password`.
    pub password_hash: String,
    /// How long a login lasts, counted by the server from the login
    /// (`"12h"`, `"30m"`, ...).
    #[serde(default = "twelve_hours", deserialize_with = "duration")]
    pub session_lifetime: Duration,
    /// Whether the session cookie carries `Secure`. Serving the site
    /// over TLS turns it on as well; set it when a proxy terminates TLS.
    #[serde(default)]
    pub secure_cookie: bool,
    /// Failed logins, per client address and per user name, after which
    /// further attempts are refused until the window has passed.
    #[serde(default = "five")]
    pub max_failed_logins: u32,
    /// The window in which `max_failed_logins` failures lock a key out,
    /// counted from its first failure.
    #[serde(default = "fifteen_minutes", deserialize_with = "duration")]
    pub failed_login_window: Duration,
}

fn twelve_hours() -> Duration {
    Duration::from_secs(12 * 60 * 60)
}

fn five() -> u32 {
    5
}

fn fifteen_minutes() -> Duration {
    Duration::from_secs(15 * 60)
}

/// A duration written the humantime way: `"12h"`, `"15 minutes"`.
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "{text:?} is not a duration like \"12h\" or \"15m\" ({e})"
        ))
    })
}

impl AdminConfig {
    /// What is wrong with the settings, naming the setting.
    fn problem(&self) -> Option<String> {
        if PasswordHash::new(&self.password_hash).is_err() {
            return Some(
                "admin.password_hash is not an Argon2 hash: make one with `cargo run -p example_project -- hash-password`"
                    .into(),
            );
        }
        if self.session_lifetime.is_zero() {
            return Some("admin.session_lifetime must be longer than 0s".into());
        }
        if self.max_failed_logins == 0 {
            return Some("admin.max_failed_logins must be 1 or more".into());
        }
        if self.failed_login_window.is_zero() {
            return Some("admin.failed_login_window must be longer than 0s".into());
        }
        None
    }
}

/// Whether `user` and `password` are the admin's: Argon2 work, to be run
/// off the async workers.
fn accepts(expected_user: &str, password_hash: &str, user: &str, password: &str) -> bool {
    let Ok(hash) = PasswordHash::new(password_hash) else {
        return false;
    };
    // The password is checked whatever the name, so the time taken
    // does not tell whether the name was right.
    let password_ok = Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok();
    let user_ok =
        user.len() == expected_user.len() && bool::from(user.as_bytes().ct_eq(expected_user.as_bytes()));
    password_ok && user_ok
}

/// The Argon2 hash (PHC string) of `password`, with a random salt: what
/// `admin.password_hash` takes (`cargo run -p example_project --
/// hash-password` prints it).
///
/// ```
/// let hash = example_project::hash_password("correct horse").unwrap();
/// assert!(hash.starts_with("$argon2id$"));
/// assert_ne!(hash, example_project::hash_password("correct horse").unwrap(), "salted");
/// assert!(example_project::hash_password("").is_err());
/// ```
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

/// The password of the development admin in `Rocket.toml`, which a
/// release build or the release profile refuses.
const DEVELOPMENT_PASSWORD: &str = "admin";

/// The login's state, managed by Rocket: the settings, the live
/// sessions, the failed-login counts and the password checks' permits.
pub(crate) struct AdminLogin {
    config: AdminConfig,
    /// Whether the session cookie carries `Secure`.
    secure_cookie: bool,
    sessions: Sessions,
    throttle: Throttle,
    password_checks: Arc<Semaphore>,
}

impl AdminLogin {
    fn new(config: AdminConfig, tls: bool) -> AdminLogin {
        AdminLogin {
            secure_cookie: config.secure_cookie || tls,
            sessions: Sessions::new(config.session_lifetime),
            throttle: Throttle::new(config.max_failed_logins, config.failed_login_window),
            password_checks: Arc::new(Semaphore::new(PARALLEL_PASSWORD_CHECKS)),
            config,
        }
    }

    /// Checks a password on a blocking thread, at most
    /// `PARALLEL_PASSWORD_CHECKS` at once: Argon2 on an async worker
    /// would hold up every request queued behind it.
    async fn accepts(&self, user: &str, password: &str) -> bool {
        // The permit moves into the blocking task, so a client that hangs
        // up does not free it while its check still runs.
        let Ok(permit) = self.password_checks.clone().acquire_owned().await else {
            return false;
        };
        let (expected, hash) = (self.config.user.clone(), self.config.password_hash.clone());
        let (user, password) = (user.to_owned(), password.to_owned());
        spawn_blocking(move || {
            let _permit = permit;
            accepts(&expected, &hash, &user, &password)
        })
        .await
        .unwrap_or(false)
    }
}

/// Reads `[admin]` at ignite; refuses to launch without it in release
/// builds, with a setting it cannot use, or, in a release build or the
/// release profile, with the development password.
pub(crate) fn fairing() -> AdHoc {
    AdHoc::try_on_ignite("Example admin", |rocket| async move {
        let production = !cfg!(debug_assertions) || rocket.figment().profile() == "release";
        let config = match rocket.figment().extract_inner::<AdminConfig>("admin") {
            Ok(config) => config,
            Err(e) => {
                rocket::error!("the admin login is not configured ({e}): set admin.user and admin.password_hash (see docs/admin.md)");
                return Err(rocket);
            }
        };
        if let Some(problem) = config.problem() {
            rocket::error!("{problem}");
            return Err(rocket);
        }
        if production
            && accepts(
                &config.user,
                &config.password_hash,
                &config.user,
                DEVELOPMENT_PASSWORD,
            )
        {
            rocket::error!("admin.password_hash is the development password {DEVELOPMENT_PASSWORD:?}: set a password of your own (see docs/admin.md)");
            return Err(rocket);
        }
        let tls = rocket
            .figment()
            .extract::<rocket::Config>()
            .is_ok_and(|config| config.tls_enabled());
        Ok(rocket.manage(AdminLogin::new(config, tls)))
    })
}

/// The sessions this process has opened, by id, with their start. A
/// session ends at logout or after the lifetime; a restart (which is how
/// a new password hash takes effect) ends them all.
struct Sessions {
    lifetime: Duration,
    live: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    fn new(lifetime: Duration) -> Sessions {
        Sessions {
            lifetime,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a session; gives its id: 128 random bits, hex.
    fn open(&self) -> String {
        let mut bytes = [0u8; 16];
        OsRng.fill_bytes(&mut bytes);
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|_, opened| now.duration_since(*opened) < self.lifetime);
        live.insert(id.clone(), now);
        id
    }

    /// Whether `id` is an open session within its lifetime.
    fn is_open(&self, id: &str) -> bool {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match live.get(id) {
            Some(opened) if opened.elapsed() < self.lifetime => true,
            Some(_) => {
                live.remove(id);
                false
            }
            None => false,
        }
    }

    fn close(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

/// What the back-off counts failed logins by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    UserName(String),
}

impl Key {
    /// A client's key: its address, or for IPv6 its /64, which one
    /// client is commonly given whole.
    fn address(ip: IpAddr) -> Key {
        match ip {
            IpAddr::V6(v6) => {
                let [a, b, c, d, ..] = v6.segments();
                Key::Address(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0).into())
            }
            v4 => Key::Address(v4),
        }
    }

    fn user_name(name: &str) -> Key {
        let mut end = name.len().min(MAX_KEPT_USER_NAME);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        Key::UserName(name[..end].to_owned())
    }
}

/// One key's failures in its current window.
struct Failures {
    count: u32,
    since: Instant,
}

/// Failed logins per client address and per user name. An attempt
/// counts as failed from its start until its password is found right,
/// so that parallel attempts cannot slip past the limit.
struct Throttle {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<Key, Failures>>,
}

/// A login refused by the back-off: which key is locked, and for how long.
struct LockedOut {
    key: Key,
    wait: Duration,
}

impl Throttle {
    fn new(max: u32, window: Duration) -> Throttle {
        Throttle {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt for every key, or refuses it when a key has had
    /// `max` failures in its window (counting nothing then).
    fn attempt(&self, keys: &[Key]) -> Result<(), LockedOut> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            if let Some(f) = failures.get(key) {
                let passed = now.duration_since(f.since);
                if passed < self.window && f.count >= self.max {
                    return Err(LockedOut {
                        key: key.clone(),
                        wait: self.window - passed,
                    });
                }
            }
        }
        // Room for the new keys, or the attempt is refused: a key locked
        // out is never forgotten to make room.
        let new = keys.iter().filter(|key| !failures.contains_key(key)).count();
        while failures.len() + new > MAX_TRACKED_KEYS {
            if !self.make_room(&mut failures, now) {
                return Err(LockedOut {
                    key: keys[0].clone(),
                    wait: self.window,
                });
            }
        }
        for key in keys {
            let f = failures
                .entry(key.clone())
                .or_insert(Failures { count: 0, since: now });
            if now.duration_since(f.since) >= self.window {
                *f = Failures { count: 0, since: now };
            }
            f.count += 1;
        }
        Ok(())
    }

    /// Forgets the windows that have passed, or else the oldest key that
    /// is not locked out; false when every key kept is locked out.
    fn make_room(&self, failures: &mut HashMap<Key, Failures>, now: Instant) -> bool {
        let before = failures.len();
        failures.retain(|_, f| now.duration_since(f.since) < self.window);
        if failures.len() < before {
            return true;
        }
        let oldest = failures
            .iter()
            .filter(|(_, f)| f.count < self.max)
            .min_by_key(|(_, f)| f.since)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(oldest) => failures.remove(&oldest).is_some(),
            None => false,
        }
    }

    /// A successful login clears its keys' failures.
    fn succeeded(&self, keys: &[Key]) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            failures.remove(key);
        }
    }
}

/// Request guard: the logged-in admin, a session cookie naming an open
/// session. Anyone else gets 401, which the admin's catcher turns into
/// the login page.
pub struct Admin;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Admin {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        let login = request.rocket().state::<AdminLogin>();
        match (login, request.cookies().get_private(SESSION_COOKIE)) {
            (Some(login), Some(cookie)) if login.sessions.is_open(cookie.value()) => Outcome::Success(Admin),
            _ => Outcome::Error((Status::Unauthorized, ())),
        }
    }
}

/// The login form, in the dashboard's layout.
#[get("/login")]
pub(crate) fn login_page(csrf: CsrfToken<'_>, flash: Option<FlashMessage<'_>>) -> LoginPage {
    let page = LoginPage::new(&csrf, "/admin/login");
    match flash {
        Some(flash) => page.notice(flash.message()),
        None => page,
    }
}

/// A form whose CSRF check failed: 403, naming why.
fn forbidden(refused: rocket_hitcount::CsrfError) -> DashboardError {
    DashboardError::new(Status::Forbidden, refused.to_string())
}

#[derive(FromForm)]
pub(crate) struct Login<'r> {
    csrfmiddlewaretoken: Option<&'r str>,
    username: &'r str,
    password: &'r str,
}

/// The answer to a login form.
#[derive(rocket::Responder)]
pub(crate) enum LoginAnswer {
    LoggedIn(Redirect),
    /// Refused: the form again, 401, saying why.
    Refused(LoginPage),
    /// Locked out by the back-off (429); `Retry-After` says for how long.
    TooMany(LoginPage, Header<'static>),
}

/// Logs the admin in: CSRF check, back-off, password (off the async
/// workers), then a new session.
///
/// `hits` gives the client address as rocket-hitcount sees it: the
/// socket peer, or behind `hitcount.trusted_proxies` the address they
/// forwarded, never a header a client could set.
#[post("/login", data = "<form>")]
pub(crate) async fn login(
    csrf: CsrfToken<'_>,
    hits: Hits<'_>,
    auth: &State<AdminLogin>,
    jar: &CookieJar<'_>,
    form: Form<Login<'_>>,
) -> Result<LoginAnswer, DashboardError> {
    csrf.verify(form.csrfmiddlewaretoken).map_err(forbidden)?;
    let page = |status: Status, error: String| LoginPage::new(&csrf, "/admin/login").error(status, error);
    let mut keys = vec![Key::user_name(form.username)];
    keys.extend(hits.visitor().ip().map(Key::address));
    if let Err(locked) = auth.throttle.attempt(&keys) {
        let seconds = locked.wait.as_secs() + u64::from(locked.wait.subsec_nanos() > 0);
        let whose = match locked.key {
            Key::Address(_) => "from this address",
            Key::UserName(_) => "for this user name",
        };
        let again = humantime::format_duration(Duration::from_secs(seconds));
        let error = format!("Too many failed logins {whose}. Try again in {again}.");
        return Ok(LoginAnswer::TooMany(
            page(Status::TooManyRequests, error),
            Header::new("Retry-After", seconds.to_string()),
        ));
    }
    if !auth.accepts(form.username, form.password).await {
        // django.contrib.admin's message.
        let error = "Please enter the correct username and password for a staff account.";
        return Ok(LoginAnswer::Refused(page(Status::Unauthorized, error.into())));
    }
    auth.throttle.succeeded(&keys);
    if let Some(old) = jar.get_private(SESSION_COOKIE) {
        auth.sessions.close(old.value());
    }
    let lifetime =
        rocket::time::Duration::try_from(auth.config.session_lifetime).unwrap_or(rocket::time::Duration::MAX);
    let cookie = Cookie::build((SESSION_COOKIE, auth.sessions.open()))
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(auth.secure_cookie)
        .max_age(lifetime);
    jar.add_private(cookie);
    Ok(LoginAnswer::LoggedIn(Redirect::to("/admin/")))
}

#[derive(FromForm)]
pub(crate) struct Plain<'r> {
    csrfmiddlewaretoken: Option<&'r str>,
}

/// Ends the session on the server, so that no copy of its cookie opens
/// the admin again, and deletes the cookie.
#[post("/logout", data = "<form>")]
pub(crate) fn logout(
    csrf: CsrfToken<'_>,
    auth: &State<AdminLogin>,
    jar: &CookieJar<'_>,
    form: Form<Plain<'_>>,
) -> Result<Flash<Redirect>, DashboardError> {
    csrf.verify(form.csrfmiddlewaretoken).map_err(forbidden)?;
    if let Some(cookie) = jar.get_private(SESSION_COOKIE) {
        auth.sessions.close(cookie.value());
    }
    jar.remove_private(Cookie::build(SESSION_COOKIE).path("/admin"));
    Ok(Flash::success(Redirect::to("/admin/login"), "Logged out."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_locks_a_key_after_max_failures_and_success_clears_it() {
        let throttle = Throttle::new(2, Duration::from_secs(60));
        let (user, other) = (Key::user_name("editor"), Key::user_name("other"));
        let (just_user, just_other) = (std::slice::from_ref(&user), std::slice::from_ref(&other));
        assert!(throttle.attempt(just_user).is_ok());
        assert!(throttle.attempt(just_user).is_ok());
        let locked = throttle
            .attempt(&[other.clone(), user.clone()])
            .expect_err("locked");
        assert_eq!(locked.key, user);
        assert!(locked.wait <= Duration::from_secs(60));
        assert!(
            throttle.attempt(just_other).is_ok(),
            "the refusal counted nothing"
        );
        throttle.succeeded(just_user);
        assert!(throttle.attempt(just_user).is_ok());
    }

    #[test]
    fn throttle_forgets_a_window_that_has_passed() {
        let throttle = Throttle::new(1, Duration::from_millis(1));
        let key = [Key::Address([192, 0, 2, 1].into())];
        assert!(throttle.attempt(&key).is_ok());
        std::thread::sleep(Duration::from_millis(5));
        assert!(throttle.attempt(&key).is_ok());
    }

    #[test]
    fn throttle_keeps_at_most_max_tracked_keys() {
        let throttle = Throttle::new(2, Duration::from_secs(60));
        for i in 0..MAX_TRACKED_KEYS + 10 {
            assert!(throttle.attempt(&[Key::user_name(&i.to_string())]).is_ok());
        }
        assert_eq!(throttle.failures.lock().unwrap().len(), MAX_TRACKED_KEYS);
    }

    #[test]
    fn a_locked_key_is_never_forgotten_to_make_room() {
        let throttle = Throttle::new(1, Duration::from_secs(60));
        let admin = [Key::user_name("admin")];
        assert!(throttle.attempt(&admin).is_ok());
        // Every other key locked out too: no room, so new keys are refused.
        for i in 1..MAX_TRACKED_KEYS {
            assert!(throttle.attempt(&[Key::user_name(&i.to_string())]).is_ok());
        }
        assert!(throttle.attempt(&[Key::user_name("one more")]).is_err());
        assert!(throttle.attempt(&admin).is_err(), "the admin's name stays locked");
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Key::address(one), Key::address(other));
        assert_ne!(Key::address(one), Key::address(elsewhere));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(Key::address(v4), Key::Address(v4));
    }

    #[test]
    fn long_user_names_share_a_key_cut_on_a_character_boundary() {
        let long = "é".repeat(100);
        let Key::UserName(kept) = Key::user_name(&long) else {
            unreachable!()
        };
        assert_eq!(kept.len(), MAX_KEPT_USER_NAME);
        assert_eq!(Key::user_name(&format!("{long}x")), Key::user_name(&long));
    }

    #[test]
    fn sessions_close_and_expire() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let (a, b) = (sessions.open(), sessions.open());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(sessions.is_open(&a) && sessions.is_open(&b));
        sessions.close(&a);
        assert!(!sessions.is_open(&a) && sessions.is_open(&b));
        assert!(!sessions.is_open("made up"));

        let short = Sessions::new(Duration::from_millis(1));
        let id = short.open();
        std::thread::sleep(Duration::from_millis(5));
        assert!(!short.is_open(&id));
    }
}
