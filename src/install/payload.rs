//! The JSON body of the `installed` and `uninstalled` lifecycle callbacks, typed.

use core::fmt;

use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::error::{Error, PayloadDefect};
use crate::jws::{self, Members};
use crate::secret::SharedSecret;

/// Longest lifecycle body accepted, in bytes (64 KiB; the product sends about 1 KiB).
pub const MAX_LIFECYCLE_BODY: usize = 64 * 1024;

/// The body of an `installed` or `uninstalled` callback, read strictly, returned only inside
/// a [`VerifiedInstall`](crate::VerifiedInstall): there is no way to build one from a body
/// whose token did not verify.
///
/// `clientKey`, `key`, `baseUrl` and `eventType` are required; `sharedSecret` is required,
/// and must not be empty, when `eventType` is `installed`. Every other known member is
/// optional (a JSON `null` counts as absent). A member of the wrong JSON type, a repeated
/// member name or anything but one JSON object is [`Error::InvalidLifecyclePayload`].
/// Members this type does not know (`serviceEntitlementNumber`, ...) are
/// kept: read them with [`raw`](Self::raw) or [`body_json`](Self::body_json).
///
/// # The app's duty
///
/// On `installed`, persist [`shared_secret`](Self::shared_secret) for
/// [`client_key`](Self::client_key), replacing the stored one: the product signs every later
/// request to the app with it. Change an existing tenant's secret only here, from a verified
/// install, never from an unsigned or unverified callback (checklist item 51). The body
/// itself is not signed: the token binds its `clientKey` (through `iss`) and the callback's
/// URL (through `qsh`), and is short-lived.
///
/// `Debug` never shows the shared secret (nor the whole body, which contains it); the body
/// is zeroized on drop.
#[derive(Clone)]
pub struct LifecyclePayload {
    body: Zeroizing<String>,
    client_key: String,
    shared_secret: Option<SharedSecret>,
    base_url: String,
    key: String,
    product_type: Option<String>,
    description: Option<String>,
    display_url: Option<String>,
    server_version: Option<String>,
    plugins_version: Option<String>,
    installation_id: Option<String>,
    oauth_client_id: Option<String>,
    event_type: String,
}

impl LifecyclePayload {
    /// Reads a callback body.
    pub(crate) fn parse(body: &str) -> Result<Self, Error> {
        let defect = |d| Error::InvalidLifecyclePayload(d);
        if body.len() > MAX_LIFECYCLE_BODY {
            return Err(defect(PayloadDefect::TooLarge));
        }
        let mut fields = Fields::default();
        let walked = jws::for_each_body_member(
            body.as_bytes(),
            |_| true,
            |name, value| fields.read(name.as_ref(), value),
        );
        match walked {
            Ok(()) => {}
            Err(Error::InvalidJson(_)) => return Err(defect(PayloadDefect::NotJson)),
            Err(Error::DuplicateMember(_)) => return Err(defect(PayloadDefect::DuplicateMember)),
            Err(other) => return Err(other),
        }
        let required = |value: Option<String>, name| {
            value.ok_or(Error::InvalidLifecyclePayload(PayloadDefect::MissingField(
                name,
            )))
        };
        let event_type = required(fields.event_type, "eventType")?;
        let shared_secret = fields.shared_secret.map(SharedSecret::from);
        if event_type == "installed" {
            match &shared_secret {
                None => return Err(defect(PayloadDefect::MissingField("sharedSecret"))),
                Some(s) if s.is_empty() => {
                    return Err(defect(PayloadDefect::InvalidField("sharedSecret")))
                }
                Some(_) => {}
            }
        }
        Ok(Self {
            body: Zeroizing::new(body.to_owned()),
            client_key: required(fields.client_key, "clientKey")?,
            shared_secret,
            base_url: required(fields.base_url, "baseUrl")?,
            key: required(fields.key, "key")?,
            product_type: fields.product_type,
            description: fields.description,
            display_url: fields.display_url,
            server_version: fields.server_version,
            plugins_version: fields.plugins_version,
            installation_id: fields.installation_id,
            oauth_client_id: fields.oauth_client_id,
            event_type,
        })
    }

    /// `clientKey`: the tenant's identity, equal to the verified token's `iss`.
    #[must_use]
    pub fn client_key(&self) -> &str {
        &self.client_key
    }

    /// `sharedSecret`: the tenant's new HS256 secret. Present on `installed`; usually absent
    /// on `uninstalled`. Persist it (see the type's docs); never log it.
    #[must_use]
    pub fn shared_secret(&self) -> Option<&SharedSecret> {
        self.shared_secret.as_ref()
    }

    /// `baseUrl`: the product instance's base URL (`https://example.atlassian.net`).
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `key`: the app's key, from its descriptor.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// `productType`: `jira`, `confluence`, ...
    #[must_use]
    pub fn product_type(&self) -> Option<&str> {
        self.product_type.as_deref()
    }

    /// `description` of the product instance.
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// `displayUrl`: the instance's URL as users see it (a custom domain, say).
    #[must_use]
    pub fn display_url(&self) -> Option<&str> {
        self.display_url.as_deref()
    }

    /// `serverVersion` of the product.
    #[must_use]
    pub fn server_version(&self) -> Option<&str> {
        self.server_version.as_deref()
    }

    /// `pluginsVersion`: the Connect version.
    #[must_use]
    pub fn plugins_version(&self) -> Option<&str> {
        self.plugins_version.as_deref()
    }

    /// `installationId`: the installation's ARI, sent for Forge apps with Connect modules
    /// (`ari:cloud:ecosystem::installation/<uuid>`); a Forge Invocation Token names the same
    /// installation.
    #[must_use]
    pub fn installation_id(&self) -> Option<&str> {
        self.installation_id.as_deref()
    }

    /// `oauthClientId`: the app's OAuth client id, needed to act as a user.
    #[must_use]
    pub fn oauth_client_id(&self) -> Option<&str> {
        self.oauth_client_id.as_deref()
    }

    /// `eventType`: `installed` or `uninstalled` (others are passed through as they are).
    #[must_use]
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The raw JSON text of any member of the body, known or not (`raw("installationId")`).
    /// `raw("sharedSecret")` is the secret: never log it.
    #[must_use]
    pub fn raw(&self, name: &str) -> Option<&str> {
        let members = Members::parse_body(self.body.as_bytes()).ok()?;
        members.get(name).map(RawValue::get)
    }

    /// The whole body, as received. It contains the shared secret: never log it.
    #[must_use]
    pub fn body_json(&self) -> &str {
        &self.body
    }
}

impl fmt::Debug for LifecyclePayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LifecyclePayload")
            .field("client_key", &self.client_key)
            .field("shared_secret", &self.shared_secret)
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("product_type", &self.product_type)
            .field("description", &self.description)
            .field("display_url", &self.display_url)
            .field("server_version", &self.server_version)
            .field("plugins_version", &self.plugins_version)
            .field("installation_id", &self.installation_id)
            .field("oauth_client_id", &self.oauth_client_id)
            .field("event_type", &self.event_type)
            .finish_non_exhaustive()
    }
}

/// The known members found in one pass over the body.
#[derive(Default)]
struct Fields {
    client_key: Option<String>,
    shared_secret: Option<String>,
    base_url: Option<String>,
    key: Option<String>,
    product_type: Option<String>,
    description: Option<String>,
    display_url: Option<String>,
    server_version: Option<String>,
    plugins_version: Option<String>,
    installation_id: Option<String>,
    oauth_client_id: Option<String>,
    event_type: Option<String>,
}

impl Fields {
    fn read(&mut self, name: &str, value: &RawValue) -> Result<(), Error> {
        let (slot, field) = match name {
            "clientKey" => (&mut self.client_key, "clientKey"),
            "sharedSecret" => (&mut self.shared_secret, "sharedSecret"),
            "baseUrl" => (&mut self.base_url, "baseUrl"),
            "key" => (&mut self.key, "key"),
            "productType" => (&mut self.product_type, "productType"),
            "description" => (&mut self.description, "description"),
            "displayUrl" => (&mut self.display_url, "displayUrl"),
            "serverVersion" => (&mut self.server_version, "serverVersion"),
            "pluginsVersion" => (&mut self.plugins_version, "pluginsVersion"),
            "installationId" => (&mut self.installation_id, "installationId"),
            "oauthClientId" => (&mut self.oauth_client_id, "oauthClientId"),
            "eventType" => (&mut self.event_type, "eventType"),
            _ => return Ok(()),
        };
        if value.get() == "null" {
            return Ok(());
        }
        let text = jws::json_str(value).ok_or(Error::InvalidLifecyclePayload(
            PayloadDefect::InvalidField(field),
        ))?;
        *slot = Some(text.into_owned());
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    const INSTALLED: &str = r#"{"key":"app","clientKey":"ck","sharedSecret":"s3cr3t","baseUrl":"https://x.atlassian.net","productType":"jira","description":"d","displayUrl":null,"serverVersion":"1","pluginsVersion":"2","eventType":"installed","installationId":"ari:x"}"#;

    fn defect(body: &str) -> PayloadDefect {
        match LifecyclePayload::parse(body).unwrap_err() {
            Error::InvalidLifecyclePayload(d) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_the_installed_body() {
        let p = LifecyclePayload::parse(INSTALLED).unwrap();
        assert_eq!(p.client_key(), "ck");
        assert_eq!(p.shared_secret().unwrap().expose(), "s3cr3t");
        assert_eq!(p.display_url(), None);
        assert_eq!(p.raw("installationId"), Some("\"ari:x\""));
        assert_eq!(p.installation_id(), Some("ari:x"));
        assert_eq!(p.oauth_client_id(), None);
        assert!(!format!("{p:?}").contains("s3cr3t"));
    }

    #[test]
    fn strict() {
        assert_eq!(defect("[]"), PayloadDefect::NotJson);
        assert_eq!(
            defect(r#"{"key":"a","key":"b"}"#),
            PayloadDefect::DuplicateMember
        );
        assert_eq!(
            defect(&INSTALLED.replace(r#""productType":"jira""#, r#""productType":1"#)),
            PayloadDefect::InvalidField("productType")
        );
        assert_eq!(
            defect(&INSTALLED.replace(r#""sharedSecret":"s3cr3t","#, "")),
            PayloadDefect::MissingField("sharedSecret")
        );
        assert_eq!(
            defect(&INSTALLED.replace(r#""s3cr3t""#, r#""""#)),
            PayloadDefect::InvalidField("sharedSecret")
        );
        let uninstalled = INSTALLED
            .replace(r#""sharedSecret":"s3cr3t","#, "")
            .replace(r#""installed""#, r#""uninstalled""#);
        assert!(LifecyclePayload::parse(&uninstalled)
            .unwrap()
            .shared_secret()
            .is_none());
    }
}
