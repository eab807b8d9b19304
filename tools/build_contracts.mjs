#!/usr/bin/env node
// Compiles the devnet contracts (engine/devnet/contracts/*.sol) with the pinned solc-js from tools/node_modules
// and writes one artifact per deployable contract to engine/devnet/artifacts/<ContractName>.json:
//   {"abi", "bytecode": "0x..", "contractName", "sourceHash"}
// The output is byte-reproducible: fixed compiler version and settings, no metadata hash or CBOR trailer in the
// bytecode, keys sorted, two-space indentation, trailing newline.
//
// sourceHash = sha256 over every *.sol file of the contracts directory in file-name order, each contributing
// "<file name>\0<content>\0". It is the same for all artifacts of one build, so a Python test can tell that
// the committed artifacts are stale without Node.
//
// Usage (from the repository root):
//   node tools/build_contracts.mjs           write the artifacts
//   node tools/build_contracts.mjs --check   recompile and exit 1 if any committed artifact differs
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const SOLC_VERSION = "0.8.28";
const TOOLS_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(TOOLS_DIR, "..");
const SOURCES_DIR = path.join(REPO_ROOT, "engine", "devnet", "contracts");
const ARTIFACTS_DIR = path.join(REPO_ROOT, "engine", "devnet", "artifacts");

// Part of the build's identity: changing anything here changes the bytecode.
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  metadata: { bytecodeHash: "none", appendCBOR: false },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"], "": ["ast"] } },
};

function fail(message) {
  console.error(`build_contracts: ${message}`);
  process.exit(1);
}

function loadSolc() {
  // createRequire anchored in tools/ resolves tools/node_modules/solc, whatever the working directory.
  const require = createRequire(path.join(TOOLS_DIR, "package.json"));
  let solc;
  try {
    solc = require("solc");
  } catch {
    fail("solc-js not found in tools/node_modules: run `npm ci --prefix tools` (or `make tools`)");
  }
  const version = solc.version();
  if (!version.startsWith(`${SOLC_VERSION}+`)) {
    fail(`solc ${SOLC_VERSION} required, tools/node_modules has ${version}: run \`npm ci --prefix tools\``);
  }
  return solc;
}

function readSources() {
  const files = readdirSync(SOURCES_DIR).filter((f) => f.endsWith(".sol")).sort();
  if (files.length === 0) fail(`no .sol files in ${SOURCES_DIR}`);
  const sources = {};
  const hash = createHash("sha256");
  for (const file of files) {
    const content = readFileSync(path.join(SOURCES_DIR, file), "utf8");
    sources[file] = { content };
    hash.update(`${file}\0${content}\0`);
  }
  return { sources, sourceHash: hash.digest("hex") };
}

// Deployable contracts only: interfaces, libraries and abstract contracts get no artifact.
function deployableContracts(output) {
  const names = new Set();
  for (const { ast } of Object.values(output.sources)) {
    for (const node of ast.nodes) {
      if (node.nodeType === "ContractDefinition" && node.contractKind === "contract" && !node.abstract) {
        if (names.has(node.name)) fail(`two contracts are named ${node.name}: artifact names must be unique`);
        names.add(node.name);
      }
    }
  }
  return names;
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return value;
}

function compile() {
  const solc = loadSolc();
  const { sources, sourceHash } = readSources();
  const started = process.hrtime.bigint();
  const output = JSON.parse(solc.compile(JSON.stringify({ language: "Solidity", sources, settings: SETTINGS })));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;

  // Warnings fail the build too: the sources are kept warning-free.
  const problems = (output.errors || []).filter((e) => e.severity !== "info");
  if (problems.length > 0) {
    for (const e of problems) console.error(e.formattedMessage || e.message);
    fail(`${problems.length} compiler error(s)/warning(s)`);
  }

  const artifacts = new Map();
  const deployable = deployableContracts(output);
  for (const [file, contracts] of Object.entries(output.contracts)) {
    for (const [name, compiled] of Object.entries(contracts)) {
      if (!deployable.has(name)) continue;
      const artifact = {
        abi: compiled.abi,
        bytecode: `0x${compiled.evm.bytecode.object}`,
        contractName: name,
        sourceHash,
      };
      if (artifact.bytecode === "0x") fail(`${file}:${name} compiled to empty bytecode`);
      artifacts.set(`${name}.json`, `${JSON.stringify(sortKeys(artifact), null, 2)}\n`);
    }
  }
  return { artifacts, seconds, version: solc.version() };
}

function committedArtifacts() {
  if (!existsSync(ARTIFACTS_DIR)) return [];
  return readdirSync(ARTIFACTS_DIR).filter((f) => f.endsWith(".json")).sort();
}

function main() {
  const check = process.argv.includes("--check");
  const unknown = process.argv.slice(2).filter((a) => a !== "--check");
  if (unknown.length > 0) fail(`unknown argument(s): ${unknown.join(" ")} (usage: build_contracts.mjs [--check])`);

  const { artifacts, seconds, version } = compile();
  const rel = path.relative(REPO_ROOT, ARTIFACTS_DIR);
  const stale = committedArtifacts().filter((f) => !artifacts.has(f));

  if (check) {
    const differing = [];
    for (const [file, text] of artifacts) {
      const target = path.join(ARTIFACTS_DIR, file);
      if (!existsSync(target)) differing.push(`${file} (missing)`);
      else if (readFileSync(target, "utf8") !== text) differing.push(`${file} (differs)`);
    }
    for (const file of stale) differing.push(`${file} (no longer produced by the sources)`);
    if (differing.length > 0) {
      fail(
        `committed artifacts in ${rel} do not match the sources compiled with solc ${version}:\n  ` +
          `${differing.join("\n  ")}\nrun \`node tools/build_contracts.mjs\` and commit the result`,
      );
    }
    console.log(`build_contracts: ${artifacts.size} artifacts up to date (solc ${version}, ${seconds.toFixed(1)} s)`);
    return;
  }

  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  for (const [file, text] of artifacts) writeFileSync(path.join(ARTIFACTS_DIR, file), text);
  for (const file of stale) unlinkSync(path.join(ARTIFACTS_DIR, file));
  console.log(
    `build_contracts: wrote ${artifacts.size} artifacts to ${rel} (solc ${version}, ${seconds.toFixed(1)} s)` +
      (stale.length ? `; removed stale ${stale.join(", ")}` : ""),
  );
}

main();
