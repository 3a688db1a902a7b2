//! The revocation state one process holds: the marks (complete), the session records of
//! allowlist mode (the memory store's authority, the Redis store's cache) and the holders of
//! live sessions (memory store). Shared by both stores; every entry expires.

use std::collections::HashMap;

use super::store::{Mode, Revocation, RevocationMark, TenantHolders};
use super::token::SessionClaims;

/// What the local state says about a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Covered by a mark of its token, user or tenant.
    Revoked,
    /// Not revoked (and, in allowlist mode, on record).
    Valid,
    /// Allowlist mode: not revoked, but no record here.
    NotRecorded,
}

/// A mark's two numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cover {
    through: u64,
    keep_until: u64,
}

impl Cover {
    fn merge(&mut self, other: Self) {
        self.through = self.through.max(other.through);
        self.keep_until = self.keep_until.max(other.keep_until);
    }

    fn covers(self, iat: u64) -> bool {
        iat <= self.through
    }
}

/// A holder's latest session.
#[derive(Clone, Copy, Debug)]
struct Held {
    iat: u64,
    exp: u64,
}

#[derive(Debug, Default)]
struct TenantState {
    tenant: Option<Cover>,
    users: HashMap<Box<str>, Cover>,
    tokens: HashMap<Box<str>, Cover>,
    /// Allowlist records: session id → `exp`.
    live: HashMap<Box<str>, u64>,
    /// Holders of live sessions: account id → latest session.
    holders: HashMap<Box<str>, Held>,
}

impl TenantState {
    fn is_empty(&self) -> bool {
        self.tenant.is_none()
            && self.users.is_empty()
            && self.tokens.is_empty()
            && self.live.is_empty()
            && self.holders.is_empty()
    }

    /// Whether a session of `account_id` issued at `iat` is covered by a user or tenant mark.
    fn user_covered(&self, account_id: &str, iat: u64) -> bool {
        self.tenant.is_some_and(|c| c.covers(iat))
            || self.users.get(account_id).is_some_and(|c| c.covers(iat))
    }
}

/// The whole state, behind the store's lock.
#[derive(Debug)]
pub(crate) struct LocalState {
    tenants: HashMap<Box<str>, TenantState>,
    /// Records and holders held (what `capacity` bounds).
    records: usize,
    /// Marks held.
    marks: usize,
    /// Purge expired entries when `records + marks` reaches this.
    next_purge: usize,
}

/// Smallest purge threshold: below it, purging is not worth a pass.
const MIN_PURGE: usize = 1024;

impl Default for LocalState {
    fn default() -> Self {
        Self {
            tenants: HashMap::new(),
            records: 0,
            marks: 0,
            next_purge: MIN_PURGE,
        }
    }
}

impl LocalState {
    /// The check of one session against the marks and, in allowlist mode, the records.
    pub(crate) fn check(&self, session: &SessionClaims, mode: Mode) -> Lookup {
        let iat = session.issued_at().as_secs();
        let Some(tenant) = self.tenants.get(session.client_key()) else {
            return match mode {
                Mode::Denylist => Lookup::Valid,
                Mode::Allowlist => Lookup::NotRecorded,
            };
        };
        if tenant.user_covered(session.account_id(), iat)
            || tenant
                .tokens
                .get(session.id())
                .is_some_and(|c| c.covers(iat))
        {
            return Lookup::Revoked;
        }
        match mode {
            Mode::Denylist => Lookup::Valid,
            Mode::Allowlist if tenant.live.contains_key(session.id()) => Lookup::Valid,
            Mode::Allowlist => Lookup::NotRecorded,
        }
    }

    /// Records a mark (merged with any mark of the same scope); a token mark also drops the
    /// token's record.
    pub(crate) fn apply(&mut self, mark: &RevocationMark, now: u64) {
        self.purge_if_due(now);
        let cover = Cover {
            through: mark.covers_issued_through,
            keep_until: mark.keep_until,
        };
        let tenant = self
            .tenants
            .entry(mark.revocation.client_key().into())
            .or_default();
        let added = match &mark.revocation {
            Revocation::Tenant { .. } => match &mut tenant.tenant {
                Some(existing) => {
                    existing.merge(cover);
                    false
                }
                slot @ None => {
                    *slot = Some(cover);
                    true
                }
            },
            Revocation::User { account_id, .. } => merge_into(&mut tenant.users, account_id, cover),
            Revocation::Token { id, .. } => {
                if tenant.live.remove(id.as_str()).is_some() {
                    self.records -= 1;
                }
                merge_into(&mut tenant.tokens, id, cover)
            }
        };
        if added {
            self.marks += 1;
        }
    }

    /// Records a minted session: its holder, and its record in allowlist mode. `false`
    /// (nothing recorded) when `capacity` records are held even after purging.
    pub(crate) fn record(
        &mut self,
        session: &SessionClaims,
        mode: Mode,
        holders: bool,
        capacity: usize,
        now: u64,
    ) -> bool {
        self.purge_if_due(now);
        let known_holder = self
            .tenants
            .get(session.client_key())
            .is_some_and(|t| t.holders.contains_key(session.account_id()));
        let needed = usize::from(holders && !known_holder) + usize::from(mode == Mode::Allowlist);
        if self.records + needed > capacity {
            self.purge(now);
            if self.records + needed > capacity {
                return false;
            }
        }
        let (iat, exp) = (
            session.issued_at().as_secs(),
            session.expires_at().as_secs(),
        );
        let tenant = self.tenants.entry(session.client_key().into()).or_default();
        if holders {
            match tenant.holders.get_mut(session.account_id()) {
                Some(held) => {
                    held.iat = held.iat.max(iat);
                    held.exp = held.exp.max(exp);
                }
                None => {
                    tenant
                        .holders
                        .insert(session.account_id().into(), Held { iat, exp });
                    self.records += 1;
                }
            }
        }
        if mode == Mode::Allowlist && tenant.live.insert(session.id().into(), exp).is_none() {
            self.records += 1;
        }
        true
    }

    /// Caches a record confirmed by the server (the Redis store), if there is room.
    #[cfg_attr(not(feature = "session-redis"), allow(dead_code))]
    pub(crate) fn cache_record(&mut self, session: &SessionClaims, capacity: usize, now: u64) {
        let _ = self.record(session, Mode::Allowlist, false, capacity, now);
    }

    /// Drops every cached record (the Redis store, when its channel drops).
    #[cfg_attr(not(feature = "session-redis"), allow(dead_code))]
    pub(crate) fn flush_records(&mut self) {
        for tenant in self.tenants.values_mut() {
            self.records -= tenant.live.len();
            tenant.live.clear();
        }
        self.tenants.retain(|_, t| !t.is_empty());
    }

    /// Every mark still to be kept at `now`.
    #[cfg_attr(not(feature = "session-redis"), allow(dead_code))]
    pub(crate) fn marks(&self, now: u64) -> Vec<RevocationMark> {
        let mut out = Vec::with_capacity(self.marks);
        let mut push = |revocation: Revocation, cover: &Cover| {
            if cover.keep_until >= now {
                out.push(RevocationMark {
                    revocation,
                    covers_issued_through: cover.through,
                    keep_until: cover.keep_until,
                });
            }
        };
        for (client_key, tenant) in &self.tenants {
            if let Some(cover) = &tenant.tenant {
                push(
                    Revocation::Tenant {
                        client_key: client_key.to_string(),
                    },
                    cover,
                );
            }
            for (account_id, cover) in &tenant.users {
                push(
                    Revocation::User {
                        client_key: client_key.to_string(),
                        account_id: account_id.to_string(),
                    },
                    cover,
                );
            }
            for (id, cover) in &tenant.tokens {
                push(
                    Revocation::Token {
                        client_key: client_key.to_string(),
                        id: id.to_string(),
                    },
                    cover,
                );
            }
        }
        out
    }

    /// Whether every session of `account_id` issued up to `iat` is covered by a mark.
    #[cfg_attr(not(feature = "session-redis"), allow(dead_code))]
    pub(crate) fn user_covered(&self, client_key: &str, account_id: &str, iat: u64) -> bool {
        self.tenants
            .get(client_key)
            .is_some_and(|t| t.user_covered(account_id, iat))
    }

    /// The holders recorded here whose latest session is live at `now` and not covered.
    pub(crate) fn holders(&self, now: u64) -> Vec<TenantHolders> {
        let mut out = Vec::new();
        for (client_key, tenant) in &self.tenants {
            let account_ids: Vec<String> = tenant
                .holders
                .iter()
                .filter(|(account_id, held)| {
                    held.exp > now && !tenant.user_covered(account_id, held.iat)
                })
                .map(|(account_id, _)| account_id.to_string())
                .collect();
            if !account_ids.is_empty() {
                out.push(TenantHolders {
                    client_key: client_key.to_string(),
                    account_ids,
                });
            }
        }
        out
    }

    /// Records and marks held, for tests of the bounds.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.records, self.marks)
    }

    fn purge_if_due(&mut self, now: u64) {
        if self.records + self.marks >= self.next_purge {
            self.purge(now);
        }
    }

    /// Drops marks kept until before `now` and records and holders expired before `now`.
    /// Sessions are accepted up to the leeway after `exp`, which the marks' `keep_until`
    /// includes; records are kept the same `MAX_LEEWAY` longer so none is dropped while its
    /// token can still be accepted.
    fn purge(&mut self, now: u64) {
        let record_cutoff = now.saturating_sub(crate::verify::MAX_LEEWAY);
        let (mut records, mut marks) = (0, 0);
        self.tenants.retain(|_, tenant| {
            if tenant.tenant.is_some_and(|c| c.keep_until < now) {
                tenant.tenant = None;
            }
            tenant.users.retain(|_, c| c.keep_until >= now);
            tenant.tokens.retain(|_, c| c.keep_until >= now);
            tenant.live.retain(|_, exp| *exp >= record_cutoff);
            tenant.holders.retain(|_, held| held.exp >= record_cutoff);
            marks +=
                usize::from(tenant.tenant.is_some()) + tenant.users.len() + tenant.tokens.len();
            records += tenant.live.len() + tenant.holders.len();
            !tenant.is_empty()
        });
        self.records = records;
        self.marks = marks;
        self.next_purge = (2 * (records + marks)).max(MIN_PURGE);
    }
}

/// Inserts or merges; `true` when the entry is new.
fn merge_into(map: &mut HashMap<Box<str>, Cover>, key: &str, cover: Cover) -> bool {
    match map.get_mut(key) {
        Some(existing) => {
            existing.merge(cover);
            false
        }
        None => {
            map.insert(key.into(), cover);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user: &str, id: &str, iat: u64) -> SessionClaims {
        SessionClaims::for_test("t", user, id, iat, iat + 300)
    }

    fn mark(revocation: Revocation, through: u64, keep_until: u64) -> RevocationMark {
        RevocationMark {
            revocation,
            covers_issued_through: through,
            keep_until,
        }
    }

    fn user(account_id: &str) -> Revocation {
        Revocation::User {
            client_key: "t".into(),
            account_id: account_id.into(),
        }
    }

    /// Entries expire with what they cover, counters follow, and the threshold grows with
    /// the live entries so purging stays amortized.
    #[test]
    fn purging_drops_exactly_the_expired_entries() {
        let mut state = LocalState::default();
        let now = 10_000;
        assert!(state.record(&session("old", "i1", 1000), Mode::Allowlist, true, 100, now));
        assert!(state.record(&session("new", "i2", now), Mode::Allowlist, true, 100, now));
        state.apply(&mark(user("gone"), 100, now - 1), now);
        state.apply(&mark(user("kept"), 100, now), now);
        assert_eq!(state.counts(), (4, 2));
        state.purge(now);
        // The old session's record and holder (expired beyond the leeway) and the mark kept
        // until before now are gone.
        assert_eq!(state.counts(), (2, 1));
        assert_eq!(
            state.check(&session("new", "i2", now), Mode::Allowlist),
            Lookup::Valid
        );
        assert_eq!(
            state.check(&session("old", "i1", 1000), Mode::Allowlist),
            Lookup::NotRecorded
        );
        assert_eq!(
            state.check(&session("kept", "i3", 50), Mode::Denylist),
            Lookup::Revoked
        );
        assert_eq!(state.next_purge, MIN_PURGE);
        // A record expiring within the leeway is kept.
        let edge = now - 300 - crate::verify::MAX_LEEWAY;
        assert!(state.record(
            &session("edge", "i4", edge),
            Mode::Allowlist,
            false,
            100,
            now
        ));
        state.purge(now);
        assert_eq!(
            state.check(&session("edge", "i4", edge), Mode::Allowlist),
            Lookup::Valid
        );
    }

    #[test]
    fn marks_merge_and_token_marks_drop_records() {
        let mut state = LocalState::default();
        assert!(state.record(&session("u", "i1", 500), Mode::Allowlist, false, 10, 0));
        state.apply(&mark(user("u"), 600, 2000), 0);
        state.apply(&mark(user("u"), 400, 1000), 0);
        assert_eq!(state.counts(), (1, 1));
        // The later cover wins.
        assert_eq!(
            state.check(&session("u", "i9", 600), Mode::Denylist),
            Lookup::Revoked
        );
        assert_eq!(
            state.check(&session("u", "i9", 601), Mode::Denylist),
            Lookup::Valid
        );
        let token = Revocation::Token {
            client_key: "t".into(),
            id: "i1".into(),
        };
        state.apply(&mark(token, 700, 2000), 0);
        assert_eq!(state.counts(), (0, 2));
        state.flush_records();
        assert_eq!(state.counts(), (0, 2));
        assert_eq!(state.marks(0).len(), 2);
        assert_eq!(state.marks(1500).len(), 2);
        assert_eq!(state.marks(2001).len(), 0);
    }
}
