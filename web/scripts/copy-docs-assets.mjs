// Copies Swagger UI's and ReDoc's browser bundles next to the app, so /docs and /redoc work
// without internet (fitboard.entrypoints.api.web points FastAPI's docs pages at them).
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "..", "src", "fitboard", "web_dist", "docs-assets");
mkdirSync(target, { recursive: true });

const swagger = dirname(require.resolve("swagger-ui-dist/package.json"));
const redoc = dirname(require.resolve("redoc/package.json"));
const files = [
  [join(swagger, "swagger-ui-bundle.js"), "swagger-ui-bundle.js"],
  [join(swagger, "swagger-ui.css"), "swagger-ui.css"],
  [join(swagger, "favicon-32x32.png"), "favicon-32x32.png"],
  [join(redoc, "bundles", "redoc.standalone.js"), "redoc.standalone.js"],
];
for (const [from, name] of files) {
  copyFileSync(from, join(target, name));
}
console.log(`copied ${files.length} docs assets to ${target}`);
