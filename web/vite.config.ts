import preact from "@preact/preset-vite";
import { defineConfig } from "vitest/config";

// The build lands inside the Python package, which serves it at `/` (fitboard.entrypoints.api.web).
export default defineConfig({
  plugins: [preact()],
  build: {
    outDir: "../src/fitboard/web_dist",
    emptyOutDir: true,
    // Hashed names under assets/ let the server mark them immutable.
    assetsDir: "assets",
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npm run dev` against a `fitboard serve` on the default port.
    proxy: {
      "/v1": "http://127.0.0.1:8000",
      "/socket.io": { target: "http://127.0.0.1:8000", ws: true },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
