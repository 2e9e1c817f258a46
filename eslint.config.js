// Lint: typescript-eslint's recommended rules, plus the house layering: imports point down the
// request path (http → auth → handlers → services → metadata + blobs), never up or sideways.
import tseslint from "typescript-eslint";

/** What each folder under src/ may not import. */
const LAYERS = {
  domain: ["api-contract", "config", "observability", "blobs", "metadata", "auth", "http", "handlers", "services", "cli", "app"],
  observability: ["api-contract", "config", "domain", "blobs", "metadata", "auth", "http", "handlers", "services", "cli", "app"],
  config: ["api-contract", "observability", "blobs", "metadata", "auth", "http", "handlers", "services", "cli", "app"],
  blobs: ["api-contract", "config", "metadata", "auth", "http", "handlers", "services", "cli", "app"],
  metadata: ["api-contract", "config", "blobs", "auth", "http", "handlers", "services", "cli", "app"],
  auth: ["api-contract", "config", "blobs", "http", "handlers", "services", "cli", "app"],
  http: ["api-contract", "config", "blobs", "metadata", "handlers", "services", "cli", "app"],
  services: ["api-contract", "config", "auth", "http", "handlers", "cli", "app"],
  // The wire contract: zod shapes of /api bodies, shared by handlers, the CLI and tests.
  "api-contract": ["config", "observability", "blobs", "metadata", "auth", "http", "handlers", "services", "cli", "app"],
  handlers: ["config", "blobs", "cli", "app"],
  cli: ["http", "handlers", "auth", "blobs"],
};

function forbidden(names) {
  return names.flatMap((name) => (name === "app" ? ["**/app.ts"] : [`**/${name}/**`, `./${name}/**`]));
}

export default tseslint.config(
  { ignores: ["node_modules/**", ".tools/**", "data/**", "results/**", "dist/**", "portal/dist/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // The portal renders every stored string as text: no raw HTML, ever (docs/portal.md).
    files: ["portal/**/*.{ts,tsx}"],
    rules: {
      "no-restricted-syntax": [
        "error",
        { selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']", message: "never render HTML from a string: build elements (see portal/src/markdown.tsx)" },
        { selector: "Property[key.name='dangerouslySetInnerHTML']", message: "never render HTML from a string: build elements (see portal/src/markdown.tsx)" },
        { selector: "AssignmentExpression[left.property.name=/^(innerHTML|outerHTML)$/]", message: "never assign HTML: build elements" },
        { selector: "CallExpression[callee.property.name='insertAdjacentHTML']", message: "never insert HTML: build elements" },
      ],
    },
  },
  ...Object.entries(LAYERS).map(([folder, names]) => ({
    files: [`src/${folder}/**/*.ts`],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: forbidden(names), message: `src/${folder} must not import this layer: imports point down the request path (see ../shared/style.md).` }] }],
    },
  })),
);
