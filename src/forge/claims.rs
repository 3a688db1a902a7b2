//! The claims of a Forge Invocation Token, typed: what Forge says about the app, the
//! installation, the module and the user an invocation is for.

use core::fmt;
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{object, objects, present, present_object, unique_names, Object};
use super::kid::IcLabel;
use crate::error::{Claim, Error, TokenPart};
use crate::jws::{self, Members};
use crate::time::UnixTime;

/// The claims of a Forge Invocation Token, read strictly.
///
/// `iss`, `aud`, `iat`, `exp` and `app` are required; `nbf`, `jti`, `context`, `principal`
/// and `icLabel` are optional. A claim of the wrong JSON type is
/// [`Error::InvalidClaim`], never "absent" (a `null` included), and no object at any depth
/// may repeat a member name ([`Error::DuplicateMember`]). Members this crate does not type
/// (real tokens carry more than the documentation lists, and Forge adds new ones) are
/// never an error: read any of them with [`raw`](Self::raw) or the whole payload with
/// [`payload_json`](Self::payload_json).
#[derive(Clone, PartialEq, Eq)]
pub struct ForgeClaims {
    payload: Box<str>,
    iss: String,
    aud: Vec<String>,
    iat: UnixTime,
    exp: UnixTime,
    nbf: Option<UnixTime>,
    jti: Option<String>,
    app: ForgeApp,
    context: Option<ForgeContext>,
    principal: Option<String>,
    ic_label: Option<IcLabel>,
}

impl ForgeClaims {
    /// Reads the payload JSON of a token.
    pub(crate) fn parse(payload: &[u8]) -> Result<Self, Error> {
        let part = TokenPart::Payload;
        let mut iss = None;
        let mut aud = None;
        let (mut iat, mut exp, mut nbf) = (None, None, None);
        let (mut jti, mut app, mut context, mut principal, mut ic_label) =
            (None, None, None, None, None);
        jws::for_each_member_within(
            payload,
            part,
            &jws::FORGE_LIMITS,
            |_| true,
            |name, value| {
                let text = |claim| {
                    jws::json_str(value)
                        .map(Cow::into_owned)
                        .ok_or(Error::InvalidClaim(claim))
                };
                let date = |claim| {
                    UnixTime::from_numeric_date(value.get()).ok_or(Error::InvalidClaim(claim))
                };
                match name.as_ref() {
                    "iss" => iss = Some(text(Claim::Iss)?),
                    "aud" => aud = Some(audience(value)?),
                    "iat" => iat = Some(date(Claim::Iat)?),
                    "exp" => exp = Some(date(Claim::Exp)?),
                    "nbf" => nbf = Some(date(Claim::Nbf)?),
                    "jti" => jti = Some(text(Claim::Jti)?),
                    "principal" => principal = Some(text(Claim::Principal)?),
                    "icLabel" => ic_label = Some(IcLabel::new(&text(Claim::IcLabel)?)?),
                    "app" => app = Some(typed(value, Claim::App)?),
                    "context" => context = Some(typed(value, Claim::Context)?),
                    _ => unique_names(value, part)?,
                }
                Ok(())
            },
        )?;
        let payload = core::str::from_utf8(payload)
            .map_err(|_| Error::InvalidJson(part))?
            .into();
        let app: ForgeApp = app.ok_or(Error::MissingClaim(Claim::App))?;
        app.check()?;
        Ok(Self {
            payload,
            iss: iss.ok_or(Error::MissingClaim(Claim::Iss))?,
            aud: aud.ok_or(Error::MissingClaim(Claim::Aud))?,
            iat: iat.ok_or(Error::MissingClaim(Claim::Iat))?,
            exp: exp.ok_or(Error::MissingClaim(Claim::Exp))?,
            nbf,
            jti,
            app,
            context,
            principal,
            ic_label,
        })
    }

    /// `iss`: `forge/invocation-token` on every token the verifier accepts.
    #[must_use]
    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// `aud`, as a list (a single string is a one-element list): the app id.
    #[must_use]
    pub fn aud(&self) -> &[String] {
        &self.aud
    }

    /// `iat`, rounded down to whole seconds.
    #[must_use]
    pub fn iat(&self) -> UnixTime {
        self.iat
    }

    /// `exp`, rounded down to whole seconds.
    #[must_use]
    pub fn exp(&self) -> UnixTime {
        self.exp
    }

    /// `nbf`, rounded down to whole seconds, if present.
    #[must_use]
    pub fn nbf(&self) -> Option<UnixTime> {
        self.nbf
    }

    /// `jti`: the token's id, if present (for replay detection by the app).
    #[must_use]
    pub fn jti(&self) -> Option<&str> {
        self.jti.as_deref()
    }

    /// `app`: the app, its installation, environment and module.
    #[must_use]
    pub fn app(&self) -> &ForgeApp {
        &self.app
    }

    /// `context`: present on invocations from a front-end module.
    #[must_use]
    pub fn context(&self) -> Option<&ForgeContext> {
        self.context.as_ref()
    }

    /// `principal`: the Atlassian account id of the user, on invocations from UI modules.
    #[must_use]
    pub fn principal(&self) -> Option<&str> {
        self.principal.as_deref()
    }

    /// `icLabel`: the Isolated Cloud the token comes from, checked by [`IcLabel::new`].
    #[must_use]
    pub fn ic_label(&self) -> Option<&IcLabel> {
        self.ic_label.as_ref()
    }

    /// The raw JSON text of any top-level claim, typed or not (`raw("app")`).
    #[must_use]
    pub fn raw(&self, name: &str) -> Option<&str> {
        let members = Members::parse_within(
            self.payload.as_bytes(),
            TokenPart::Payload,
            &jws::FORGE_LIMITS,
        )
        .ok()?;
        members.get(name).map(RawValue::get)
    }

    /// The whole payload, as JSON text.
    #[must_use]
    pub fn payload_json(&self) -> &str {
        &self.payload
    }
}

impl fmt::Debug for ForgeClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForgeClaims")
            .field("iss", &self.iss)
            .field("aud", &self.aud)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("nbf", &self.nbf)
            .field("jti", &self.jti)
            .field("app", &self.app)
            .field("context", &self.context)
            .field("principal", &self.principal)
            .field("ic_label", &self.ic_label)
            .finish_non_exhaustive()
    }
}

/// `aud`: one string, or an array of strings.
fn audience(raw: &RawValue) -> Result<Vec<String>, Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    match serde_json::from_str::<Raw>(raw.get()) {
        Ok(Raw::One(aud)) => Ok(vec![aud]),
        Ok(Raw::Many(auds)) => Ok(auds),
        Err(_) => Err(Error::InvalidClaim(Claim::Aud)),
    }
}

/// An object claim read into its type, after the repeated-name check of all its objects.
fn typed<T: for<'de> Deserialize<'de>>(raw: &RawValue, claim: Claim) -> Result<T, Error> {
    unique_names(raw, TokenPart::Payload)?;
    serde_json::from_str(raw.get())
        .map(|Object(value)| value)
        .map_err(|_| Error::InvalidClaim(claim))
}

/// The `app` claim: which app, installation, environment and module was invoked.
///
/// `id`, `installationId`, `apiBaseUrl`, `environment` (`type`, `id`) and `module` (`type`,
/// `key`) are required; `appVersion`, `installation` and `license` are optional. Anything
/// present must have its type ([`Error::InvalidClaim`]`(`[`Claim::App`]`)`); other members
/// are kept in the payload (read them from [`ForgeClaims::raw`]`("app")`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForgeApp {
    id: String,
    installation_id: String,
    api_base_url: String,
    #[serde(default, deserialize_with = "present")]
    app_version: Option<String>,
    #[serde(default, deserialize_with = "present_object")]
    installation: Option<ForgeInstallation>,
    #[serde(deserialize_with = "object")]
    environment: ForgeEnvironment,
    #[serde(deserialize_with = "object")]
    module: ForgeModule,
    #[serde(default, deserialize_with = "present_object")]
    license: Option<ForgeLicense>,
}

impl ForgeApp {
    /// What serde's types do not say.
    fn check(&self) -> Result<(), Error> {
        let license_ok = self
            .license
            .as_ref()
            .is_none_or(ForgeLicense::is_consistent);
        if license_ok && !self.installation_id.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidClaim(Claim::App))
        }
    }

    /// `app.id`: the Forge app id, `ari:cloud:ecosystem::app/<uuid>`.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `app.installationId`: the installation, `ari:cloud:ecosystem::installation/<uuid>`.
    /// The key for the app's own storage, and the link to a Connect tenant
    /// ([`VerifiedInvocation::linked_tenant`](crate::VerifiedInvocation::linked_tenant)).
    /// It changes when the app is reinstalled.
    #[must_use]
    pub fn installation_id(&self) -> &str {
        &self.installation_id
    }

    /// `app.apiBaseUrl`: where the app's calls to the product's REST APIs go.
    #[must_use]
    pub fn api_base_url(&self) -> &str {
        &self.api_base_url
    }

    /// `app.appVersion`: the version of the app being invoked.
    #[must_use]
    pub fn app_version(&self) -> Option<&str> {
        self.app_version.as_deref()
    }

    /// `app.installation`: the installation and the contexts (sites, workspaces) it covers.
    #[must_use]
    pub fn installation(&self) -> Option<&ForgeInstallation> {
        self.installation.as_ref()
    }

    /// `app.environment`.
    #[must_use]
    pub fn environment(&self) -> &ForgeEnvironment {
        &self.environment
    }

    /// `app.module`.
    #[must_use]
    pub fn module(&self) -> &ForgeModule {
        &self.module
    }

    /// `app.license`: present for paid apps in production.
    #[must_use]
    pub fn license(&self) -> Option<&ForgeLicense> {
        self.license.as_ref()
    }
}

/// `app.installation`: `id` required, `contexts` an array (empty when absent).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ForgeInstallation {
    id: String,
    #[serde(default, deserialize_with = "objects")]
    contexts: Vec<ForgeInstallationContext>,
}

impl ForgeInstallation {
    /// `app.installation.id`.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `app.installation.contexts`.
    #[must_use]
    pub fn contexts(&self) -> &[ForgeInstallationContext] {
        &self.contexts
    }
}

/// One of `app.installation.contexts`: `name` and `apiBaseUrl` required, `cloudId` and
/// `workspaceId` optional.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForgeInstallationContext {
    name: String,
    api_base_url: String,
    #[serde(default, deserialize_with = "present")]
    cloud_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    workspace_id: Option<String>,
}

impl ForgeInstallationContext {
    /// `name`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `apiBaseUrl`.
    #[must_use]
    pub fn api_base_url(&self) -> &str {
        &self.api_base_url
    }

    /// `cloudId`: the site (Jira, Confluence).
    #[must_use]
    pub fn cloud_id(&self) -> Option<&str> {
        self.cloud_id.as_deref()
    }

    /// `workspaceId`: the Bitbucket workspace.
    #[must_use]
    pub fn workspace_id(&self) -> Option<&str> {
        self.workspace_id.as_deref()
    }
}

/// `app.environment`: both members required.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ForgeEnvironment {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

impl ForgeEnvironment {
    /// `type`: `DEVELOPMENT`, `STAGING` or `PRODUCTION`.
    #[must_use]
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// `id`: `ari:cloud:ecosystem::environment/...`.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// `app.module`: both members required.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ForgeModule {
    #[serde(rename = "type")]
    kind: String,
    key: String,
}

impl ForgeModule {
    /// `type`: `core:endpoint` for back-end invocations, the module type (`xen:macro`, ...)
    /// for front-end ones.
    #[must_use]
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// `key`: the module key of the manifest.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// `app.license`: whether the license is active, from `active` or the deprecated
/// `isActive` (when both are present they must agree).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForgeLicense {
    #[serde(default, deserialize_with = "present")]
    active: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    is_active: Option<bool>,
}

impl ForgeLicense {
    fn is_consistent(&self) -> bool {
        match (self.active, self.is_active) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }

    /// Whether the license is active; `None` when the token does not say.
    #[must_use]
    pub fn is_active(&self) -> Option<bool> {
        self.active.or(self.is_active)
    }
}

/// The `context` claim: what a front-end invocation happened in. Every member is optional;
/// the rest of it (`extension`, `localId`, ...) is in [`ForgeClaims::raw`]`("context")`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForgeContext {
    #[serde(default, deserialize_with = "present")]
    cloud_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    workspace_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    site_url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    module_key: Option<String>,
}

impl ForgeContext {
    /// `cloudId`: the site (Jira, Confluence); stable across reinstalls.
    #[must_use]
    pub fn cloud_id(&self) -> Option<&str> {
        self.cloud_id.as_deref()
    }

    /// `workspaceId`: the Bitbucket workspace.
    #[must_use]
    pub fn workspace_id(&self) -> Option<&str> {
        self.workspace_id.as_deref()
    }

    /// `siteUrl`: the site's base URL, to cross-reference with a Connect tenant's.
    #[must_use]
    pub fn site_url(&self) -> Option<&str> {
        self.site_url.as_deref()
    }

    /// `moduleKey`: the module that invoked the remote.
    #[must_use]
    pub fn module_key(&self) -> Option<&str> {
        self.module_key.as_deref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The example token of Atlassian's Forge remote documentation, with an unknown member
    /// added at each level.
    const DOCUMENTED: &str = r#"{
      "app": {
        "id": "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107",
        "version": "16",
        "appVersion": "16.0.1",
        "installationId": "ari:cloud:ecosystem::installation/0a3a7799-53ae-4a5b-9e7e-03338980abb5",
        "apiBaseUrl": "https://api.stg.atlassian.com/ex/confluence/d0d52620-3203-4cfa-8db5-f2587155f0dd",
        "environment": {"type": "DEVELOPMENT", "id": "ari:cloud:ecosystem::environment/8db33809/aa911f10"},
        "module": {"type": "xen:macro", "key": "forge-remote-app-boot"},
        "installation": {"id": "ari:cloud:ecosystem::installation/0a3a7799", "contexts": [
          {"name": "confluence", "apiBaseUrl": "https://api.atlassian.com/ex/confluence/d0d5", "cloudId": "d0d5", "future": 1}
        ]},
        "license": {
          "isActive": true, "billingPeriod": "MONTHLY", "capabilitySet": "capabilityAdvanced",
          "supportEntitlementNumber": null, "modes": ["USER_ACCESS"]
        },
        "somethingNew": {"nested": [1, 2]}
      },
      "context": {
        "localId": "4654fa12", "cloudId": "d0d52620", "moduleKey": "forge-remote-app-boot",
        "siteUrl": "https://pbray2.jira-dev.com",
        "extension": {"type": "macro", "content": {"id": "5341185"}, "isEditing": false, "references": []}
      },
      "principal": "655362:312d3308-8954-42b0-aa38-771a10c88656",
      "aud": "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107",
      "iss": "forge/invocation-token",
      "iat": 1700175149, "nbf": 1700175149, "exp": 1700175174,
      "jti": "d8a496253ec8c18a54631e4c82cbedd5d0ae8570",
      "unknownTopLevel": {"a": 1}
    }"#;

    fn parse(json: &str) -> Result<ForgeClaims, Error> {
        ForgeClaims::parse(json.as_bytes())
    }

    fn edit(path: &[&str], value: Option<serde_json::Value>) -> String {
        let mut doc: serde_json::Value = serde_json::from_str(DOCUMENTED).unwrap();
        let (last, parents) = path.split_last().unwrap();
        let mut node = &mut doc;
        for step in parents {
            node = &mut node[*step];
        }
        let object = node.as_object_mut().unwrap();
        match value {
            Some(value) => object.insert((*last).to_owned(), value),
            None => object.remove(*last),
        };
        doc.to_string()
    }

    #[test]
    fn the_documented_token_reads() {
        let claims = parse(DOCUMENTED).unwrap();
        assert_eq!(claims.iss(), "forge/invocation-token");
        assert_eq!(
            claims.aud(),
            ["ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107"]
        );
        assert_eq!(
            (claims.iat(), claims.nbf(), claims.exp()),
            (
                UnixTime::from_secs(1_700_175_149),
                Some(UnixTime::from_secs(1_700_175_149)),
                UnixTime::from_secs(1_700_175_174)
            )
        );
        assert_eq!(
            claims.jti(),
            Some("d8a496253ec8c18a54631e4c82cbedd5d0ae8570")
        );
        let app = claims.app();
        assert_eq!(
            app.installation_id(),
            "ari:cloud:ecosystem::installation/0a3a7799-53ae-4a5b-9e7e-03338980abb5"
        );
        assert_eq!(app.app_version(), Some("16.0.1"));
        assert_eq!(app.environment().kind(), "DEVELOPMENT");
        assert_eq!(app.module().kind(), "xen:macro");
        assert_eq!(app.module().key(), "forge-remote-app-boot");
        assert_eq!(app.license().unwrap().is_active(), Some(true));
        let installation = app.installation().unwrap();
        assert_eq!(installation.contexts()[0].cloud_id(), Some("d0d5"));
        assert_eq!(installation.contexts()[0].workspace_id(), None);
        let context = claims.context().unwrap();
        assert_eq!(context.site_url(), Some("https://pbray2.jira-dev.com"));
        assert_eq!(context.cloud_id(), Some("d0d52620"));
        assert_eq!(context.module_key(), Some("forge-remote-app-boot"));
        assert_eq!(
            claims.principal(),
            Some("655362:312d3308-8954-42b0-aa38-771a10c88656")
        );
        assert_eq!(claims.ic_label(), None);
        // Unknown members are kept, at every level.
        assert_eq!(claims.raw("unknownTopLevel"), Some(r#"{"a": 1}"#));
        assert!(claims
            .raw("app")
            .unwrap()
            .contains(r#""somethingNew": {"nested": [1, 2]}"#));
        assert!(claims
            .raw("context")
            .unwrap()
            .contains(r#""isEditing": false"#));
        assert_eq!(claims.payload_json(), DOCUMENTED);
    }

    #[test]
    fn optional_members_may_be_absent() {
        let minimal = r#"{"iss":"forge/invocation-token","aud":["a","b"],"iat":1,"exp":2,
            "app":{"id":"a","installationId":"i","apiBaseUrl":"u",
                   "environment":{"type":"PRODUCTION","id":"e"},"module":{"type":"core:endpoint","key":"k"},
                   "license":{"active":false},"installation":{"id":"x"}},
            "icLabel":"acme"}"#;
        let claims = parse(minimal).unwrap();
        assert_eq!(claims.aud(), ["a", "b"]);
        assert_eq!(claims.nbf(), None);
        assert_eq!(claims.jti(), None);
        assert_eq!(claims.context(), None);
        assert_eq!(claims.principal(), None);
        assert_eq!(claims.ic_label().map(IcLabel::as_str), Some("acme"));
        assert_eq!(claims.app().license().unwrap().is_active(), Some(false));
        assert_eq!(claims.app().installation().unwrap().contexts(), []);
        assert_eq!(claims.app().app_version(), None);
    }

    #[test]
    fn required_and_typed() {
        use serde_json::json;
        let missing = |path: &[&str]| parse(&edit(path, None)).unwrap_err();
        let set = |path: &[&str], v| parse(&edit(path, Some(v))).unwrap_err();
        assert_eq!(missing(&["iss"]), Error::MissingClaim(Claim::Iss));
        assert_eq!(missing(&["aud"]), Error::MissingClaim(Claim::Aud));
        assert_eq!(missing(&["iat"]), Error::MissingClaim(Claim::Iat));
        assert_eq!(missing(&["exp"]), Error::MissingClaim(Claim::Exp));
        assert_eq!(missing(&["app"]), Error::MissingClaim(Claim::App));
        let app = Error::InvalidClaim(Claim::App);
        for field in [
            "id",
            "installationId",
            "apiBaseUrl",
            "environment",
            "module",
        ] {
            assert_eq!(missing(&["app", field]), app, "{field}");
        }
        assert_eq!(missing(&["app", "environment", "type"]), app);
        assert_eq!(missing(&["app", "module", "key"]), app);
        assert_eq!(set(&["app", "installationId"], json!("")), app);
        assert_eq!(set(&["app", "installationId"], json!(1)), app);
        assert_eq!(set(&["app", "appVersion"], json!(null)), app);
        assert_eq!(set(&["app", "license"], json!(null)), app);
        assert_eq!(set(&["app", "license"], json!({"active": "yes"})), app);
        assert_eq!(
            set(
                &["app", "license"],
                json!({"active": true, "isActive": false})
            ),
            app
        );
        assert_eq!(set(&["app", "installation"], json!({"contexts": []})), app);
        assert_eq!(
            set(
                &["app", "installation"],
                json!({"id": "i", "contexts": [{"name": "n"}]})
            ),
            app
        );
        assert_eq!(
            set(
                &["app", "installation"],
                json!({"id": "i", "contexts": null})
            ),
            app
        );
        assert_eq!(set(&["app"], json!([])), app);
        // Serde's structs also take an array of their fields in order: never here.
        let documented: serde_json::Value = serde_json::from_str(DOCUMENTED).unwrap();
        let app_fields: Vec<serde_json::Value> = documented["app"]
            .as_object()
            .unwrap()
            .values()
            .cloned()
            .collect();
        assert_eq!(set(&["app"], json!(app_fields)), app);
        assert_eq!(set(&["app", "module"], json!(["xen:macro", "k"])), app);
        assert_eq!(
            set(&["app", "environment"], json!(["PRODUCTION", "e"])),
            app
        );
        assert_eq!(set(&["app", "license"], json!([true])), app);
        assert_eq!(set(&["app", "installation"], json!(["i", []])), app);
        assert_eq!(
            set(&["app", "installation", "contexts"], json!([["n", "u"]])),
            app
        );
        assert_eq!(
            set(&["context"], json!([])),
            Error::InvalidClaim(Claim::Context)
        );
        assert_eq!(
            set(&["context"], json!(["c", "w", "s", "m"])),
            Error::InvalidClaim(Claim::Context)
        );
        assert_eq!(set(&["iss"], json!(null)), Error::InvalidClaim(Claim::Iss));
        assert_eq!(
            set(&["aud"], json!(["a", 1])),
            Error::InvalidClaim(Claim::Aud)
        );
        assert_eq!(
            set(&["exp"], json!("1700175174")),
            Error::InvalidClaim(Claim::Exp)
        );
        assert_eq!(set(&["nbf"], json!(-1)), Error::InvalidClaim(Claim::Nbf));
        assert_eq!(set(&["jti"], json!(5)), Error::InvalidClaim(Claim::Jti));
        assert_eq!(
            set(&["principal"], json!(null)),
            Error::InvalidClaim(Claim::Principal)
        );
        assert_eq!(
            set(&["context"], json!("x")),
            Error::InvalidClaim(Claim::Context)
        );
        assert_eq!(
            set(&["context", "siteUrl"], json!(1)),
            Error::InvalidClaim(Claim::Context)
        );
        assert_eq!(
            set(&["icLabel"], json!("Acme")),
            Error::InvalidClaim(Claim::IcLabel)
        );
        assert_eq!(
            set(&["icLabel"], json!("a.b/c")),
            Error::InvalidClaim(Claim::IcLabel)
        );
        assert_eq!(
            set(&["icLabel"], json!(1)),
            Error::InvalidClaim(Claim::IcLabel)
        );
    }

    #[test]
    fn no_repeated_names_anywhere() {
        let dup = Err(Error::DuplicateMember(TokenPart::Payload));
        let doc = DOCUMENTED;
        let cases = [
            doc.replacen(
                r#""iss": "forge/invocation-token","#,
                r#""iss": "forge/invocation-token", "iss": "x","#,
                1,
            ),
            doc.replacen(
                r#""appVersion": "16.0.1","#,
                r#""appVersion": "16.0.1", "appVersion": "1","#,
                1,
            ),
            doc.replacen(
                r#""version": "16","#,
                r#""version": "16", "\u0076ersion": "17","#,
                1,
            ),
            doc.replacen(
                r#""type": "macro","#,
                r#""type": "macro", "type": "page","#,
                1,
            ),
            doc.replacen(r#""future": 1"#, r#""future": 1, "future": 2"#, 1),
            doc.replacen(
                r#""unknownTopLevel": {"a": 1}"#,
                r#""unknownTopLevel": {"a": 1, "a": 2}"#,
                1,
            ),
        ];
        for case in &cases {
            assert_ne!(case, doc);
            assert_eq!(parse(case).map(|_| ()), dup, "{case}");
        }
    }
}
