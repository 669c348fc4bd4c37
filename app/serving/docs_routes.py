"""The API's pages, `/docs` (Swagger UI) and `/redoc`, with their scripts pinned: FastAPI's own load
`swagger-ui-dist@5` and `redoc@2` from jsdelivr at whatever version is newest, without Subresource
Integrity, so a changed or hijacked package would run in the page's origin. Here each asset names an
exact version and the browser refuses one whose sha384 differs. Not vendored: the image stays small.

To refresh: in a temp folder, `npm pack swagger-ui-dist@<version> redoc@<version>` and unpack them
(jsdelivr serves an npm package's files byte for byte); for each file below,
`openssl dgst -sha384 -binary FILE | openssl base64 -A` is its hash after `sha384-`.
"""

import html
import json
from dataclasses import dataclass
from string import Template

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse


@dataclass(frozen=True)
class PinnedAsset:
    url: str
    integrity: str

    def attributes(self, url_attribute: str) -> str:
        return f'{url_attribute}="{self.url}" integrity="{self.integrity}" crossorigin="anonymous"'


SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.36.0"
SWAGGER_UI_JS = PinnedAsset(
    f"{SWAGGER_UI}/swagger-ui-bundle.js",
    "sha384-fUpRgC19yPykTqzdrUbdAg8NTiu16NEKf9U12J+IJWCg8/1mEI8f2+PEIz60Wyd+",
)
SWAGGER_UI_CSS = PinnedAsset(
    f"{SWAGGER_UI}/swagger-ui.css",
    "sha384-z/AtSaOHGn5MJ5auAHXUypohywlIWLBZo1jeGmhdpVIbCnFhxAH92cwdV41oyINc",
)
REDOC_JS = PinnedAsset(
    "https://cdn.jsdelivr.net/npm/redoc@2.5.4/bundles/redoc.standalone.js",
    "sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5",
)

# FastAPI's Swagger UI settings. No favicon: a third-party icon cannot carry integrity.
SWAGGER_UI_PAGE = Template(f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" type="text/css" {SWAGGER_UI_CSS.attributes("href")}>
<title>$title - Swagger UI</title>
</head>
<body>
<div id="swagger-ui"></div>
<script {SWAGGER_UI_JS.attributes("src")}></script>
<script>
SwaggerUIBundle({{
  url: $openapi_url_string,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}});
</script>
</body>
</html>
""")
# Without FastAPI's Google Fonts stylesheet: it differs per browser, so no hash can pin it.
REDOC_PAGE = Template(f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title - ReDoc</title>
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<redoc spec-url="$openapi_url"></redoc>
<script {REDOC_JS.attributes("src")}></script>
</body>
</html>
""")

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return HTMLResponse(SWAGGER_UI_PAGE.substitute(_page_fields(request)))


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return HTMLResponse(REDOC_PAGE.substitute(_page_fields(request)))


def _page_fields(request: Request) -> dict[str, str]:
    """The title, and the OpenAPI document's URL as FastAPI's own pages find it (behind a proxy's
    root_path too): escaped for HTML, and as a JS string that cannot close its <script>."""
    openapi_url = request.scope.get("root_path", "").rstrip("/") + request.app.openapi_url
    as_script = json.dumps(openapi_url)
    for char in "<>&":
        as_script = as_script.replace(char, f"\\u{ord(char):04x}")
    return {
        "title": html.escape(request.app.title),
        "openapi_url": html.escape(openapi_url),
        "openapi_url_string": as_script,
    }
