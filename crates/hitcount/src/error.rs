//! The one error type of the crate.

use std::fmt;

use crate::window::WindowError;

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
