//! `/docs`: Swagger UI over `/openapi.yaml`. Every asset is compiled into the binary (vendored
//! from the `swagger-ui-dist` npm package, see assets/swagger-ui/LICENSE), because a consular
//! network may have no route to a CDN.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/docs").get(page))
        .service(web::resource("/docs/{asset}").get(asset));
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Mawid API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"#;

/// `validatorUrl: null`: Swagger UI would otherwise send the contract to an online validator.
const INIT_JS: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null
  });
});
"##;

const JS: &str = "text/javascript; charset=utf-8";

/// (file name, content type, bytes)
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    ),
    (
        "swagger-ui-bundle.js",
        JS,
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    ),
    ("init.js", JS, INIT_JS.as_bytes()),
];

/// Only this server's own origin may supply scripts, styles or the contract, so a page that
/// tried to pull from elsewhere would fail in the browser as it would offline.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'";

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .body(PAGE)
}

async fn asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(file, _, _)| *file == name.as_str())
        .ok_or(ApiError::not_found())?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(*bytes))
}
