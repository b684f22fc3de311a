//! Blacklists of IPs and user agents: kept in the database, matched in
//! memory, reloaded when they change.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ipnet::IpNet;

use crate::error::Result;
use crate::store::Db;

/// Which blacklist an entry is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum List {
    Ips,
    UserAgents,
}

/// A snapshot of both blacklists, ready for matching.
#[derive(Debug, Default)]
pub(crate) struct Blacklists {
    /// Addresses and hashed IPs, matched exactly.
    exact_ips: HashSet<String>,
    /// CIDR networks, with their entries as written.
    networks: Vec<(IpNet, String)>,
    user_agents: HashSet<String>,
}

impl Blacklists {
    pub(crate) fn new(
        ips: impl IntoIterator<Item = String>,
        user_agents: impl IntoIterator<Item = String>,
    ) -> Blacklists {
        let mut lists = Blacklists {
            user_agents: user_agents.into_iter().collect(),
            ..Blacklists::default()
        };
        for entry in ips {
            match entry.parse::<IpNet>() {
                Ok(net) => lists.networks.push((net, entry)),
                Err(_) => {
                    lists.exact_ips.insert(entry);
                }
            }
        }
        lists
    }

    /// Whether `ip`, whose hit-log form is `stored`, is blacklisted: as an
    /// address, inside a network, or by the stored form (a hashed IP
    /// blacklisted from a hit).
    pub(crate) fn blocks_ip(&self, ip: IpAddr, stored: Option<&str>) -> bool {
        self.ip_entry(ip, stored).is_some()
    }

    /// The entry that blacklists `ip` (see [`Blacklists::blocks_ip`]).
    pub(crate) fn ip_entry(&self, ip: IpAddr, stored: Option<&str>) -> Option<&str> {
        let exact = || {
            self.exact_ips
                .get(&ip.to_string())
                .or_else(|| stored.and_then(|s| self.exact_ips.get(s)))
        };
        self.lists_stored_ips()
            .then(exact)
            .flatten()
            .or_else(|| {
                self.networks
                    .iter()
                    .find(|(net, _)| net.contains(&ip))
                    .map(|(_, entry)| entry)
            })
            .map(String::as_str)
    }

    /// Whether any entry could match an IP's stored form (one IP, in
    /// clear or hashed): [`Blacklists::blocks_ip`] needs that form only then.
    pub(crate) fn lists_stored_ips(&self) -> bool {
        !self.exact_ips.is_empty()
    }

    /// Whether an IP as the hit log stores it (an address, a masked
    /// network's address or a hash) is blacklisted.
    pub(crate) fn blocks_stored_ip(&self, stored: &str) -> bool {
        self.exact_ips.contains(stored)
            || stored
                .parse::<IpAddr>()
                .is_ok_and(|ip| self.networks.iter().any(|(net, _)| net.contains(&ip)))
    }

    /// Whether the (already truncated) user agent is blacklisted.
    pub(crate) fn blocks_user_agent(&self, user_agent: &str) -> bool {
        self.user_agents.contains(user_agent)
    }
}

/// The blacklists of one app instance: served from memory, checked against
/// the database's version number every `blacklist_refresh`, and reloaded
/// at once after a change made through this instance.
pub(crate) struct BlacklistCache {
    current: RwLock<Arc<Blacklists>>,
    version: AtomicI64,
    next_check: Mutex<Instant>,
    interval: Duration,
}

impl BlacklistCache {
    pub(crate) async fn load(db: &Db, interval: Duration) -> Result<BlacklistCache> {
        let cache = BlacklistCache {
            current: RwLock::new(Arc::default()),
            version: AtomicI64::new(-1),
            next_check: Mutex::new(Instant::now() + interval),
            interval,
        };
        cache.reload(db).await?;
        Ok(cache)
    }

    /// The blacklists to match against, reloaded first if another instance
    /// changed them and the check is due. One request per interval pays
    /// for the version check (at most `budget`); the others go on with the
    /// snapshot they have, and so does everyone when the database does not
    /// answer: the next interval checks again.
    pub(crate) async fn current(&self, db: &Db, budget: Duration) -> Arc<Blacklists> {
        let due = {
            let mut next = self.next_check.lock().expect("not poisoned");
            let now = Instant::now();
            let due = now >= *next;
            if due {
                *next = now + self.interval;
            }
            due
        };
        if due {
            // Boxed: every request awaits `current`, and the statements
            // would make its future a kilobyte to move around.
            let _ = tokio::time::timeout(budget, Box::pin(self.reload_if_changed(db))).await;
        }
        self.current.read().expect("not poisoned").clone()
    }

    async fn reload_if_changed(&self, db: &Db) -> Result<()> {
        let version = dispatch!(db, pool, sql => {
            sqlx::query_scalar::<_, i64>(sql.blacklist_version).fetch_one(pool).await?
        });
        if version != self.version.load(Ordering::Acquire) {
            self.reload(db).await?;
        }
        Ok(())
    }

    pub(crate) async fn reload(&self, db: &Db) -> Result<()> {
        let (version, ips, agents) = dispatch!(db, pool, sql => {
            let version: i64 = sqlx::query_scalar(sql.blacklist_version).fetch_one(pool).await?;
            let ips: Vec<(String, DateTime<Utc>, i64)> = sqlx::query_as(sql.blacklisted_ips).fetch_all(pool).await?;
            let agents: Vec<(String, DateTime<Utc>, i64)> =
                sqlx::query_as(sql.blacklisted_user_agents).fetch_all(pool).await?;
            (version, ips, agents)
        });
        let lists = Blacklists::new(ips.into_iter().map(|r| r.0), agents.into_iter().map(|r| r.0));
        // Two reloads can overlap (a periodic one and one after a local
        // change): the older snapshot must not replace the newer.
        let mut current = self.current.write().expect("not poisoned");
        if version >= self.version.load(Ordering::Acquire) {
            *current = Arc::new(lists);
            self.version.store(version, Ordering::Release);
        }
        Ok(())
    }

    /// Makes the next request reload, after a change whose reload failed.
    pub(crate) fn invalidate(&self) {
        self.version.store(-1, Ordering::Release);
        *self.next_check.lock().expect("not poisoned") = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let lists = Blacklists::new(
            ["192.0.2.1".to_string(), "198.51.100.0/24".into(), "abc".into()],
            ["EvilBot/1.0".to_string()],
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(lists.blocks_ip(ip("192.0.2.1"), None));
        assert!(!lists.blocks_ip(ip("192.0.2.2"), None));
        assert!(lists.blocks_ip(ip("198.51.100.200"), None));
        assert!(lists.blocks_ip(ip("203.0.113.1"), Some("abc")));
        assert_eq!(
            lists.ip_entry(ip("198.51.100.200"), None),
            Some("198.51.100.0/24")
        );
        assert_eq!(lists.ip_entry(ip("203.0.113.1"), Some("abc")), Some("abc"));
        assert_eq!(lists.ip_entry(ip("192.0.2.1"), None), Some("192.0.2.1"));
        assert_eq!(lists.ip_entry(ip("192.0.2.2"), None), None);
        assert!(lists.blocks_user_agent("EvilBot/1.0"));
        assert!(lists.blocks_stored_ip("192.0.2.1"));
        assert!(lists.blocks_stored_ip("198.51.100.200"));
        assert!(!lists.blocks_stored_ip("192.0.2.2"));
        assert!(!lists.blocks_user_agent("EvilBot/1.0 "));
    }
}
