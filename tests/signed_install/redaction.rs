//! The signed-install and tenant types never show a token, the shared secret or the body
//! that carries it, in `{:?}` or `{:#?}` (the core types: `tests/no_token_in_debug.rs`).

use atlassian_connect_jwt::{InstallToken, InstalledTenant, UninstalledTenant};

use super::{body, signed, verify_body, SECRET};

#[test]
fn install_and_tenant_types_never_show_a_token_or_the_secret() {
    let token = signed(&super::claims().to_string());
    // A forged install: HS256 with the secret its own body announces.
    let forged = super::hs256(
        SECRET.as_bytes(),
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &super::claims().to_string(),
    );
    let never: Vec<String> = [token.as_str(), forged.as_str()]
        .iter()
        .flat_map(|t| t.split('.').skip(1))
        .map(str::to_owned)
        .chain([SECRET.to_owned()])
        .collect();
    let check = |what: &str, value: &dyn core::fmt::Debug| {
        for shown in [format!("{value:?}"), format!("{value:#?}")] {
            for part in &never {
                assert!(
                    !shown.contains(part.as_str()),
                    "{what} shows {part:?}: {shown}"
                );
            }
        }
    };
    check("InstallToken", &InstallToken::parse(&token).unwrap());
    let install = verify_body(&token, &body("installed")).unwrap();
    assert_eq!(install.payload().shared_secret().unwrap().expose(), SECRET);
    check("VerifiedInstall", &install);
    check("LifecyclePayload", install.payload());
    check("SharedSecret", install.payload().shared_secret().unwrap());
    let tenant = InstalledTenant::from_verified(&install).unwrap();
    check("InstalledTenant", &tenant);
    check("Tenant", tenant.tenant());
    check("TenantKey", &tenant.tenant().key().unwrap());
    assert!(UninstalledTenant::from_verified(&install).is_none());
    // The errors of a forged or mangled token, shown both ways.
    for bad in [forged.as_str(), &token[..token.len() - 2], "a.b.c"] {
        let error = verify_body(bad, &body("installed")).unwrap_err();
        check("Error", &error);
        for part in &never {
            assert!(!error.to_string().contains(part.as_str()), "{error}");
        }
    }
}
