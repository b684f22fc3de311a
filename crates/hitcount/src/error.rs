//! The one error type of the crate.

use std::fmt;

/// Everything that can go wrong while configuring, counting or reading hits.
///
/// Every variant names the offending input, so its `Display` is a message a
/// site owner can act on.
///
/// ```
/// use hitcount::{Error, ObjectRef};
///
/// let err = ObjectRef::new("", "42").unwrap_err();
/// assert!(matches!(err, Error::InvalidInput { .. }));
/// assert_eq!(err.to_string(), "invalid object kind \"\": must not be empty");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A setting has a value the crate cannot use.
    Setting {
        /// The setting's key, as written in `[default.hitcount]`.
        key: &'static str,
        /// The rejected value, as the user wrote it.
        value: String,
        /// Why the value was rejected.
        reason: String,
    },
    /// A `within` window or a duration is malformed.
    Window(WindowError),
    /// The database is away: it did not answer within `count_timeout`,
    /// refused or lost the connection, or failed lately and the counter is
    /// resting from it. What was asked is not known to be done (a batch
    /// whose time ran out may still have been written).
    Unavailable {
        /// What happened, for the log.
        reason: String,
    },
    /// A value handed to the library is unusable (an empty kind, an invalid
    /// IP address, an empty session key, ...).
    InvalidInput {
        /// What the value is ("object kind", "IP address", ...).
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// No counted object has this primary key.
    UnknownObject(i64),
    /// The database failed or refused a statement.
    Database(sqlx::Error),
    /// The counter has stopped: the task that writes its hits, or the
    /// runtime it runs on, is gone (the app is shutting down).
    Stopped,
    /// The database answered a statement other than the counter relies
    /// on (a write whose `RETURNING` gave no row, say).
    UnexpectedAnswer {
        /// Which statement.
        what: &'static str,
    },
    /// The operating system gave no randomness for a key the counter makes
    /// itself: the IP hash key, or the day's salt of cookieless visitors'
    /// keys.
    NoRandomness {
        /// What the counter was making.
        what: &'static str,
        /// The operating system's error.
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Setting { key, value, reason } => {
                write!(f, "invalid value {value} for setting `{key}`: {reason}")
            }
            Error::Window(err) => err.fmt(f),
            Error::InvalidInput { what, value, reason } => write!(f, "invalid {what} {value:?}: {reason}"),
            Error::UnknownObject(pk) => write!(f, "no hit count with pk {pk}"),
            Error::Database(err) => write!(f, "hit count database error: {err}"),
            Error::Unavailable { reason } => write!(f, "the hit count database is unavailable: {reason}"),
            Error::Stopped => f.write_str("the hit counter has stopped (the app is shutting down)"),
            Error::UnexpectedAnswer { what } => {
                write!(
                    f,
                    "the database's answer to {what} is not what the hit counter expects"
                )
            }
            Error::NoRandomness { what, reason } => {
                write!(f, "the operating system gave no randomness for {what}: {reason}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Window(err) => Some(err),
            Error::Database(err) => Some(err),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Error::Database(err)
    }
}

impl From<WindowError> for Error {
    fn from(err: WindowError) -> Self {
        Error::Window(err)
    }
}

impl Error {
    /// Whether the database is away (no connection, no answer, a server
    /// going down), rather than refusing this one request: what the counter
    /// rests from (see `count_timeout`).
    pub(crate) fn is_outage(&self) -> bool {
        match self {
            Error::Unavailable { .. } => true,
            Error::Database(error) => is_outage(error),
            _ => false,
        }
    }
}

/// Whether `error` says the database is away rather than that a statement
/// failed: no connection (refused, reset, timed out), a server shutting
/// down or restarting, a statement cancelled by its timeout, or SQLite's
/// database locked by another process past the busy timeout.
fn is_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => {
            #[cfg(feature = "postgres")]
            if let Some(e) = e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                // Connection exceptions, operator intervention (shutdown,
                // restart, statement timeout), insufficient resources.
                return ["08", "57", "53"].iter().any(|class| e.code().starts_with(class));
            }
            #[cfg(feature = "sqlite")]
            if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
                let code = e.code().and_then(|code| code.parse::<i32>().ok());
                return code.is_some_and(|code| matches!(code & 0xff, 5 | 6));
            }
            #[cfg(feature = "mysql")]
            if let Some(e) = e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                // Connection exceptions; a server shutting down, out of
                // connections, or a statement past its time.
                return e.code().is_some_and(|code| code.starts_with("08"))
                    || matches!(e.number(), 1040 | 1053 | 1969);
            }
            false
        }
        _ => false,
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand for [`Error::InvalidInput`].
pub(crate) fn invalid(what: &'static str, value: impl Into<String>, reason: &'static str) -> Error {
    Error::InvalidInput {
        what,
        value: value.into(),
        reason,
    }
}

/// A malformed window: the whole input, the part that is wrong and why.
///
/// ```
/// use hitcount::{Window, WindowErrorKind};
///
/// let err = Window::parse("days=x").unwrap_err();
/// assert_eq!(err.kind(), WindowErrorKind::NotANumber);
/// assert_eq!(err.to_string(), "invalid window \"days=x\": in \"days=x\", the value is not a whole number");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowError {
    input: String,
    token: String,
    kind: WindowErrorKind,
}

impl WindowError {
    pub(crate) fn new(input: &str, token: &str, kind: WindowErrorKind) -> WindowError {
        WindowError {
            input: input.to_owned(),
            token: token.to_owned(),
            kind,
        }
    }

    /// The whole input that failed to parse.
    ///
    /// ```
    /// assert_eq!(hitcount::Window::parse("x").unwrap_err().input(), "x");
    /// ```
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The part of the input that is wrong (the whole input when it is empty
    /// or badly quoted).
    ///
    /// ```
    /// assert_eq!(hitcount::Window::parse("days=1,foo=2").unwrap_err().token(), "foo=2");
    /// ```
    pub fn token(&self) -> &str {
        &self.token
    }

    /// What is wrong.
    ///
    /// ```
    /// use hitcount::{Window, WindowErrorKind};
    /// assert_eq!(Window::parse("days").unwrap_err().kind(), WindowErrorKind::MissingEquals);
    /// ```
    pub fn kind(&self) -> WindowErrorKind {
        self.kind
    }
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            WindowErrorKind::NotADuration => "duration",
            _ => "window",
        };
        write!(f, "invalid {what} {:?}: ", self.input)?;
        match self.kind {
            WindowErrorKind::Empty | WindowErrorKind::UnbalancedQuote | WindowErrorKind::NotADuration => {
                f.write_str(self.kind.explain())
            }
            WindowErrorKind::EmptyPart => {
                write!(f, "{} (a stray comma?)", self.kind.explain())
            }
            _ => write!(f, "in {:?}, {}", self.token, self.kind.explain()),
        }
    }
}

impl std::error::Error for WindowError {}

/// What is wrong with a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WindowErrorKind {
    /// Nothing between the quotes, or no input at all.
    Empty,
    /// An opening quote without a closing one, or the reverse.
    UnbalancedQuote,
    /// Two commas in a row, or a leading or trailing comma.
    EmptyPart,
    /// A part without `=`.
    MissingEquals,
    /// A key other than weeks, days, hours, minutes and seconds.
    UnknownKey,
    /// A value that is not a whole number.
    NotANumber,
    /// A value below zero.
    Negative,
    /// A space, tab or newline inside a part.
    Whitespace,
    /// The same key twice.
    RepeatedKey,
    /// A window longer than 100 years.
    TooLong,
    /// Neither a duration such as `7 days` nor the `days=7` grammar (what
    /// [`Window::parse_duration`](crate::Window::parse_duration) reads).
    NotADuration,
}

impl WindowErrorKind {
    pub(crate) fn explain(self) -> &'static str {
        match self {
            WindowErrorKind::Empty => "it is empty; write e.g. \"days=1,minutes=30\"",
            WindowErrorKind::UnbalancedQuote => "the double quotes are not balanced",
            WindowErrorKind::EmptyPart => "one of the comma-separated parts is empty",
            WindowErrorKind::MissingEquals => "there is no \"=\" (write key=number)",
            WindowErrorKind::UnknownKey => "the key is unknown (use weeks, days, hours, minutes or seconds)",
            WindowErrorKind::NotANumber => "the value is not a whole number",
            WindowErrorKind::Negative => "the value is negative",
            WindowErrorKind::Whitespace => "there is a space (write days=1,minutes=30)",
            WindowErrorKind::RepeatedKey => "the key is given twice",
            WindowErrorKind::TooLong => "the window is longer than 100 years",
            WindowErrorKind::NotADuration => "write e.g. \"7 days\", \"90 minutes\" or days=7",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_randomness_names_what_was_being_made() {
        let err = Error::NoRandomness {
            what: "this instance's id",
            reason: "getrandom: unavailable".into(),
        };
        assert_eq!(
            err.to_string(),
            "the operating system gave no randomness for this instance's id: getrandom: unavailable"
        );
    }
}
