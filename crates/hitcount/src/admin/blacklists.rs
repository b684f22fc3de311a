//! Editing the blacklists: entries typed by a person are normalised, and a
//! change is committed with a new version number, so every instance
//! reloads its lists (see the rules' blacklists).

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::Serialize;

use super::hit_log::HitRecord;
use super::Admin;
use crate::error::{invalid, Result};
use crate::rules::List;
use crate::store::At;
use crate::values::{clean_user_agent, parse_ip};

/// Whether a hit's IP and user agent are blacklisted (see
/// [`Admin::blacklisted`] for an example).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Blacklisted {
    /// Its stored IP is blacklisted, as an entry or inside a network.
    pub ip: bool,
    /// Its user agent is blacklisted.
    pub user_agent: bool,
}

/// One blacklist entry and when it was added.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
/// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
/// counter.admin().blacklist_ip("203.0.113.9").await?;
/// let entries = counter.admin().blacklisted_ips().await?;
/// assert_eq!(entries[0].value, "203.0.113.9");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BlacklistEntry {
    /// The IP, network, hashed IP or user agent.
    pub value: String,
    /// When it was blacklisted.
    pub created_at: DateTime<Utc>,
    /// How many requests it has refused since (those of every app
    /// instance, written each second; this instance's latest included).
    pub refused: i64,
}

/// Normalises an IP blacklist entry typed by a person: an address, a CIDR
/// network, or a hashed IP copied from the hit log.
fn normalize_ip_entry(text: &str) -> Result<String> {
    if let Ok(ip) = parse_ip(text) {
        return Ok(ip.to_string());
    }
    if let Ok(net) = text.parse::<IpNet>() {
        let net = net.trunc();
        return Ok(if net.prefix_len() == net.max_prefix_len() {
            net.addr().to_string()
        } else {
            net.to_string()
        });
    }
    if text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Ok(text.to_owned());
    }
    Err(invalid(
        "blacklist IP",
        text,
        "expected an IP address, a network such as 192.0.2.0/24, or a hashed IP from the hit log",
    ))
}

fn normalize_user_agent_entry(text: &str) -> Result<String> {
    if text.is_empty() {
        return Err(invalid("blacklist user agent", text, "must not be empty"));
    }
    Ok(clean_user_agent(text))
}

impl Admin<'_> {
    /// Blacklists an IP address, a CIDR network (`192.0.2.0/24`) or a
    /// hashed IP as shown in the hit log. Adding an entry twice is harmless.
    /// Returns whether the entry is new.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert!(counter.admin().blacklist_ip("192.0.2.0/24").await?);
    /// assert!(!counter.admin().blacklist_ip("192.0.2.0/24").await?);
    /// assert!(counter.admin().blacklist_ip("not an ip").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn blacklist_ip(self, ip: &str) -> Result<bool> {
        let entry = normalize_ip_entry(ip)?;
        Ok(self.change_blacklist(List::Ips, &[entry], true).await? == 1)
    }

    /// Blacklists a user agent (cut to 255 characters, like the user agents
    /// it is compared with). Returns whether the entry is new.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert!(counter.admin().blacklist_user_agent("EvilBot/1.0").await?);
    /// assert!(counter.admin().blacklist_user_agent("").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn blacklist_user_agent(self, user_agent: &str) -> Result<bool> {
        let entry = normalize_user_agent_entry(user_agent)?;
        Ok(self.change_blacklist(List::UserAgents, &[entry], true).await? == 1)
    }

    /// Removes an IP entry. Returns whether it was there.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// counter.admin().blacklist_ip("203.0.113.9").await?;
    /// assert!(counter.admin().unblacklist_ip("203.0.113.9").await?);
    /// assert!(!counter.admin().unblacklist_ip("203.0.113.9").await?);
    /// # Ok(()) }
    /// ```
    pub async fn unblacklist_ip(self, ip: &str) -> Result<bool> {
        let entry = normalize_ip_entry(ip)?;
        Ok(self.change_blacklist(List::Ips, &[entry], false).await? == 1)
    }

    /// Removes a user agent entry. Returns whether it was there.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert!(!counter.admin().unblacklist_user_agent("EvilBot/1.0").await?);
    /// # Ok(()) }
    /// ```
    pub async fn unblacklist_user_agent(self, user_agent: &str) -> Result<bool> {
        let entry = normalize_user_agent_entry(user_agent)?;
        Ok(self.change_blacklist(List::UserAgents, &[entry], false).await? == 1)
    }

    /// The IP blacklist, oldest entry first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert!(counter.admin().blacklisted_ips().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn blacklisted_ips(self) -> Result<Vec<BlacklistEntry>> {
        self.list_blacklist(List::Ips).await
    }

    /// The user agent blacklist, oldest entry first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// counter.admin().blacklist_user_agent("EvilBot/1.0").await?;
    /// assert_eq!(counter.admin().blacklisted_user_agents().await?[0].value, "EvilBot/1.0");
    /// # Ok(()) }
    /// ```
    pub async fn blacklisted_user_agents(self) -> Result<Vec<BlacklistEntry>> {
        self.list_blacklist(List::UserAgents).await
    }

    async fn list_blacklist(self, list: List) -> Result<Vec<BlacklistEntry>> {
        let counter = self.counter;
        // The pending refusals are added under the lock that a flush
        // takes, so that none is counted twice or missed.
        let _refusals = counter.reading_views().await;
        let read = async {
            Ok(dispatch!(counter.db(), pool, sql => {
                let statement = match list {
                    List::Ips => sql.blacklisted_ips,
                    List::UserAgents => sql.blacklisted_user_agents,
                };
                sqlx::query_as(statement).fetch_all(pool).await?
            }))
        };
        let rows: Vec<(String, DateTime<Utc>, i64)> = counter.within_budget(read).await?;
        Ok(rows
            .into_iter()
            .map(|(value, created_at, refused)| BlacklistEntry {
                refused: refused + self.counter.pending_refusals(list, &value),
                value,
                created_at,
            })
            .collect())
    }

    /// Whether each hit's stored IP and user agent are on the blacklists
    /// this instance holds now (reloaded first when another instance
    /// changed them): what the hit log marks.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{HitFilter, ObjectRef, Visitor};
    /// let post = ObjectRef::new("blog.post", 1)?;
    /// counter.count_hit(&post, &Visitor::new("s")?.with_user_agent("EvilAgent")).await?;
    /// counter.admin().blacklist_user_agent("EvilAgent").await?;
    /// let page = counter.admin().list_hits(&HitFilter::default()).await?;
    /// let marks = counter.admin().blacklisted(&page.hits).await;
    /// assert!(marks[0].user_agent && !marks[0].ip);
    /// # Ok(()) }
    /// ```
    pub async fn blacklisted(self, hits: &[HitRecord]) -> Vec<Blacklisted> {
        let lists = self
            .counter
            .blacklist_cache()
            .current(self.counter.db(), self.counter.settings().count_timeout)
            .await;
        hits.iter()
            .map(|hit| Blacklisted {
                ip: hit.ip.as_deref().is_some_and(|ip| lists.blocks_stored_ip(ip)),
                user_agent: lists.blocks_user_agent(&hit.user_agent),
            })
            .collect()
    }

    /// Adds (or removes) normalised entries in one transaction that also
    /// bumps the blacklist version, then reloads this instance's cache.
    /// Returns how many rows changed.
    pub(crate) async fn change_blacklist(self, list: List, entries: &[String], add: bool) -> Result<u64> {
        let now = self.counter.now();
        let changed = dispatch!(self.counter.writer(), pool, sql => {
            let mut tx = pool.begin().await?;
            sqlx::query(sql.bump_blacklist_version).execute(&mut *tx).await?;
            let statement = match (list, add) {
                (List::Ips, true) => sql.add_blacklisted_ip,
                (List::Ips, false) => sql.remove_blacklisted_ip,
                (List::UserAgents, true) => sql.add_blacklisted_user_agent,
                (List::UserAgents, false) => sql.remove_blacklisted_user_agent,
            };
            let mut changed = 0;
            for entry in entries {
                let query = sqlx::query(statement).bind(entry);
                let query = if add { query.bind(At(now)) } else { query };
                changed += query.execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            changed
        });
        // The change is committed: a failed reload must not report it as
        // failed, only make the next request reload.
        if self
            .counter
            .blacklist_cache()
            .reload(self.counter.db())
            .await
            .is_err()
        {
            self.counter.blacklist_cache().invalidate();
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_normalised_or_rejected() {
        for (input, expected) in [
            ("192.0.2.1", Some("192.0.2.1")),
            ("::ffff:192.0.2.1", Some("192.0.2.1")),
            ("2001:DB8::1", Some("2001:db8::1")),
            ("192.0.2.77/24", Some("192.0.2.0/24")),
            ("192.0.2.1/32", Some("192.0.2.1")),
            ("2001:db8::/32", Some("2001:db8::/32")),
            (
                "0123456789abcdef0123456789abcdef",
                Some("0123456789abcdef0123456789abcdef"),
            ),
            ("", None),
            ("localhost", None),
            ("192.0.2.1/33", None),
            ("0123456789ABCDEF0123456789ABCDEF", None),
            ("192.0.2.1 ", None),
        ] {
            let got = normalize_ip_entry(input);
            match expected {
                Some(want) => assert_eq!(got.unwrap(), want, "{input}"),
                None => {
                    let err = got.unwrap_err().to_string();
                    assert!(err.contains(&format!("{input:?}")), "{err}");
                }
            }
        }
    }
}
