//! The Rocket integration of rocket-hitcount; it is built in issue 3.
pub use hitcount;
