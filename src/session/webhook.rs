//! The body of Jira's `user_deleted` webhook, read strictly.

use crate::error::{Error, PayloadDefect};
use crate::jws;

/// Longest webhook body read, in bytes (64 KiB): a `user_deleted` body is a few hundred.
pub const MAX_WEBHOOK_BODY: usize = 64 * 1024;

/// Longest account id accepted (Atlassian's are at most 128 characters).
const MAX_ACCOUNT_ID: usize = 128;

/// A `user_deleted` webhook: `{"timestamp": ..., "webhookEvent": "user_deleted", "user":
/// {"accountId": "...", "active": false, ...}}`. Only the account id is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserDeleted {
    account_id: String,
}

impl UserDeleted {
    /// Reads a `user_deleted` body. Other members are ignored.
    ///
    /// ```
    /// use atlassian_connect_jwt::session::UserDeleted;
    ///
    /// let body = br#"{"timestamp":1700000000000,"webhookEvent":"user_deleted","user":{"accountId":"557058:abc","active":false}}"#;
    /// assert_eq!(UserDeleted::parse(body)?.account_id(), "557058:abc");
    /// # Ok::<(), atlassian_connect_jwt::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidWebhookPayload`] with the defect: too large, not one JSON object, a
    /// repeated member name, `webhookEvent` or `user.accountId` missing, `webhookEvent` not
    /// `user_deleted`, `user` not an object, `accountId` not a non-empty string of at most
    /// 128 characters.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let invalid = |defect| Error::InvalidWebhookPayload(defect);
        if body.len() > MAX_WEBHOOK_BODY {
            return Err(invalid(PayloadDefect::TooLarge));
        }
        let (mut event, mut user) = (None, None);
        walk(body, |name, value| {
            match name {
                "webhookEvent" => event = Some(jws::json_str(value).map(|e| e.into_owned())),
                "user" => user = Some(value),
                _ => {}
            }
            Ok(())
        })?;
        match event {
            None => return Err(invalid(PayloadDefect::MissingField("webhookEvent"))),
            Some(Some(event)) if event == "user_deleted" => {}
            Some(_) => return Err(invalid(PayloadDefect::InvalidField("webhookEvent"))),
        }
        let user = user.ok_or(invalid(PayloadDefect::MissingField("user")))?;
        if !user.get().starts_with('{') {
            return Err(invalid(PayloadDefect::InvalidField("user")));
        }
        let mut account_id = None;
        walk(user.get().as_bytes(), |name, value| {
            if name == "accountId" {
                account_id = Some(jws::json_str(value).map(|a| a.into_owned()));
            }
            Ok(())
        })?;
        match account_id {
            None => Err(invalid(PayloadDefect::MissingField("user.accountId"))),
            Some(Some(account_id))
                if !account_id.is_empty() && account_id.chars().count() <= MAX_ACCOUNT_ID =>
            {
                Ok(Self { account_id })
            }
            Some(_) => Err(invalid(PayloadDefect::InvalidField("user.accountId"))),
        }
    }

    /// The deleted user's account id.
    #[must_use]
    pub fn account_id(&self) -> &str {
        &self.account_id
    }
}

/// The members of one JSON object, with the lifecycle body's rules (read after the request's
/// token verified: no repeated names, no lone surrogates, bounded depth; no member, array or
/// escape limits, which are for tokens), its errors named as payload defects.
fn walk<'j>(
    json: &'j [u8],
    mut visit: impl FnMut(&str, &'j serde_json::value::RawValue) -> Result<(), Error>,
) -> Result<(), Error> {
    jws::for_each_body_member(json, |_| true, |name, value| visit(name, value)).map_err(|error| {
        match error {
            Error::DuplicateMember(_) => {
                Error::InvalidWebhookPayload(PayloadDefect::DuplicateMember)
            }
            _ => Error::InvalidWebhookPayload(PayloadDefect::NotJson),
        }
    })
}
