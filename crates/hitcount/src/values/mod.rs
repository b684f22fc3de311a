//! The values the crate counts with: an object's key, a visitor, a length
//! of time, an IP and the form the hit log keeps of it, and the clock.
//! They check their own input and hold no state.

mod clock;
mod ip;
mod object;
mod visitor;
mod window;

pub use clock::Clock;
pub(crate) use clock::{day_start, hour_start, next_day, next_hour};
pub use ip::{parse_ip, IpStorage};
pub use object::{ObjectRef, MAX_ID_LEN, MAX_KIND_LEN};
pub(crate) use visitor::{clean_user_agent, private_key};
pub use visitor::{User, Visitor, MAX_SESSION_KEY_LEN, MAX_USER_AGENT_LEN, MAX_USER_ID_LEN};
pub use window::Window;
