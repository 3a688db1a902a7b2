//! A Connect iframe route on actix-web 4 through the string API: no framework feature needed.
use actix_web::{get, web::Data, App, HttpRequest, HttpResponse, HttpServer};
use atlassian_connect_jwt::{CanonicalRequest, Error, QshPolicy, SharedSecret, UnixTime};
use atlassian_connect_jwt::{Verified, Verifier};

/// The tenant's clientKey and secret (a real app looks them up in its `TenantStore`).
struct Tenant(String, SharedSecret);

/// The token, in `jwt` or `Authorization: JWT`, must be signed for this very request.
fn verify(req: &HttpRequest, tenant: &Tenant) -> Result<Verified, Error> {
    let (uri, auth) = (req.uri(), req.headers().get("authorization"));
    let canonical =
        CanonicalRequest::from_parts(req.method().as_str(), uri.path(), uri.query(), None)?;
    let token = canonical.token(auth.and_then(|value| value.to_str().ok()))?;
    let secrets = |iss: &str| (iss == tenant.0).then(|| tenant.1.clone());
    let policy = QshPolicy::Request(&canonical);
    Verifier::new().verify(token, policy, &secrets, UnixTime::now())
}

#[get("/panel")]
async fn panel(req: HttpRequest, tenant: Data<Tenant>) -> HttpResponse {
    match verify(&req, &tenant) {
        Ok(ok) => HttpResponse::Ok().body(format!("Hello, {}", ok.account_id().unwrap_or("-"))),
        Err(error) => HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "JWT"))
            .body(error.code()),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let var = |name| std::env::var(name).map_err(|_| std::io::Error::other(name));
    let secret = SharedSecret::new(var("CONNECT_SHARED_SECRET")?);
    let tenant = Data::new(Tenant(var("CONNECT_CLIENT_KEY")?, secret));
    let listen = var("ACTIX_CONNECT_LISTEN").unwrap_or_else(|_| "127.0.0.1:3001".into());
    let app = move || App::new().app_data(tenant.clone()).service(panel);
    HttpServer::new(app).bind(listen)?.run().await
}
