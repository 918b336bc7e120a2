// Reads Zarr v3 arrays with zarrita, an implementation independent of this
// project, and compares every element with what the manifest expects.
//
// Usage: node check.mjs ROOT MANIFEST.json
//
// MANIFEST.json is a JSON list of arrays:
//
//   [{"path": "data/temperature", "dtype": "float32", "shape": [10, 12],
//     "expected": "<base64 of the raw little-endian elements, C order>"}]
//
// Prints one line per array, "ok PATH N elements" or "FAIL PATH: ...".
// Exit status: 0 when every array matches, 1 when any does not (or zarrita
// cannot read it), 2 on a usage error or an unreadable or malformed manifest.

import { readFileSync, statSync } from "node:fs";
import process from "node:process";
import FileSystemStore from "@zarrita/storage/fs";
import * as zarr from "zarrita";

const ITEMSIZE = { uint8: 1, int32: 4, float32: 4, float64: 8 };

class UsageError extends Error {}

function usage(msg) {
	throw new UsageError(msg);
}

function loadManifest(file) {
	let text;
	try {
		text = readFileSync(file, "utf8");
	} catch (err) {
		usage(`cannot read manifest ${file}: ${err.message}`);
	}
	let list;
	try {
		list = JSON.parse(text);
	} catch (err) {
		usage(`manifest ${file} is not JSON: ${err.message}`);
	}
	if (!Array.isArray(list)) usage("manifest must be a JSON list");
	if (list.length === 0) usage("manifest lists no arrays");
	return list.map((entry, i) => {
		const where = `manifest entry ${i}`;
		if (entry === null || typeof entry !== "object") usage(`${where}: not an object`);
		const { path, dtype, shape, expected } = entry;
		if (typeof path !== "string" || path === "") usage(`${where}: "path" must be a non-empty string`);
		if (!(dtype in ITEMSIZE)) {
			usage(`${where} (${path}): "dtype" must be one of ${Object.keys(ITEMSIZE).join(", ")}`);
		}
		if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
			usage(`${where} (${path}): "shape" must be a list of non-negative integers`);
		}
		if (typeof expected !== "string") usage(`${where} (${path}): "expected" must be a base64 string`);
		const bytes = Buffer.from(expected, "base64");
		if (bytes.toString("base64") !== expected) usage(`${where} (${path}): "expected" is not canonical base64`);
		const n = shape.reduce((a, b) => a * b, 1);
		if (bytes.length !== n * ITEMSIZE[dtype]) {
			usage(`${where} (${path}): "expected" has ${bytes.length} bytes, want ${n} elements of ${ITEMSIZE[dtype]} bytes`);
		}
		return { path, dtype, shape, expected: bytes, n };
	});
}

// One element as text: the value, and for floats its bit pattern too, so
// that NaN payloads and signed zeros are visible.
function show(dtype, view, offset) {
	switch (dtype) {
		case "uint8":
			return String(view.getUint8(offset));
		case "int32":
			return String(view.getInt32(offset, true));
		case "float32":
			return `${view.getFloat32(offset, true)} (0x${view.getUint32(offset, true).toString(16).padStart(8, "0")})`;
		case "float64":
			return `${view.getFloat64(offset, true)} (0x${view.getBigUint64(offset, true).toString(16).padStart(16, "0")})`;
	}
	throw new Error(`unknown dtype ${dtype}`);
}

// An error and its causes on one line.
function describe(err) {
	const parts = [];
	for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; e = e.cause, depth++) {
		parts.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
	}
	return parts.join(" <- ").replace(/\s*\n\s*/g, " ");
}

function sameShape(a, b) {
	return a.length === b.length && a.every((d, i) => d === b[i]);
}

// zarrita returns a 0-d array's one element as a bare number. It is
// compared by value, exactly (so -0 is not 0, and a number out of the
// dtype's range matches nothing); a NaN matches any NaN, since a bare
// number carries no NaN payload.
function checkScalar(want, got) {
	const view = new DataView(want.expected.buffer, want.expected.byteOffset, want.expected.byteLength);
	const w = { uint8: () => view.getUint8(0), int32: () => view.getInt32(0, true),
		float32: () => view.getFloat32(0, true), float64: () => view.getFloat64(0, true) }[want.dtype]();
	if (Number.isNaN(w) ? Number.isNaN(got) : Object.is(got, w)) return null;
	const shown = Object.is(got, -0) ? "-0" : String(got);
	return `first mismatch at flat index 0: got ${shown} want ${show(want.dtype, view, 0)} (element [])`;
}

// Returns null when the array matches, or the reason it does not.
async function checkArray(root, want) {
	const arr = await zarr.open(root.resolve(want.path), { kind: "array" });
	if (arr.dtype !== want.dtype) return `dtype is ${arr.dtype}, want ${want.dtype}`;
	if (!sameShape(arr.shape, want.shape)) {
		return `shape is [${arr.shape.join(", ")}], want [${want.shape.join(", ")}]`;
	}
	const got = await zarr.get(arr, want.shape.map(() => null));
	if (want.shape.length === 0 && (typeof got === "number" || typeof got === "bigint")) {
		return checkScalar(want, Number(got));
	}
	if (!sameShape(got.shape, want.shape)) {
		return `zarr.get returned shape [${got.shape.join(", ")}], want [${want.shape.join(", ")}]`;
	}
	const size = ITEMSIZE[want.dtype];
	if (got.data.BYTES_PER_ELEMENT !== size) {
		return `zarr.get returned ${got.data.constructor.name}, want ${size}-byte elements`;
	}
	if (got.data.length < want.n) {
		return `zarr.get returned ${got.data.length} elements, want ${want.n}`;
	}
	const gotBytes = new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength);
	const gotView = new DataView(got.data.buffer, got.data.byteOffset, got.data.byteLength);
	const wantView = new DataView(want.expected.buffer, want.expected.byteOffset, want.expected.byteLength);
	// Walk the output in C order through the strides zarrita reports, so a
	// non-C output layout is compared correctly rather than assumed away.
	const rank = want.shape.length;
	const idx = new Array(rank).fill(0);
	for (let flat = 0; flat < want.n; flat++) {
		let element = 0;
		for (let d = 0; d < rank; d++) element += idx[d] * got.stride[d];
		const g = element * size;
		const w = flat * size;
		for (let b = 0; b < size; b++) {
			if (gotBytes[g + b] !== want.expected[w + b]) {
				return `first mismatch at flat index ${flat}: got ${show(want.dtype, gotView, g)} want ${show(want.dtype, wantView, w)} (element [${idx.join(", ")}])`;
			}
		}
		for (let d = rank - 1; d >= 0; d--) {
			if (++idx[d] < want.shape[d]) break;
			idx[d] = 0;
		}
	}
	return null;
}

async function main(argv) {
	if (argv.length !== 2) usage("usage: node check.mjs ROOT MANIFEST.json");
	const [rootDir, manifestFile] = argv;
	let st;
	try {
		st = statSync(rootDir);
	} catch (err) {
		usage(`cannot read root ${rootDir}: ${err.message}`);
	}
	if (!st.isDirectory()) usage(`root ${rootDir} is not a directory`);
	const arrays = loadManifest(manifestFile);
	const root = zarr.root(new FileSystemStore(rootDir));
	let failed = 0;
	for (const want of arrays) {
		let reason;
		try {
			reason = await checkArray(root, want);
		} catch (err) {
			reason = `zarrita could not read it: ${describe(err)}`;
		}
		if (reason === null) {
			console.log(`ok ${want.path} ${want.n} elements`);
		} else {
			failed++;
			console.log(`FAIL ${want.path}: ${reason}`);
		}
	}
	return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
	(code) => {
		process.exitCode = code;
	},
	(err) => {
		console.error(err instanceof UsageError ? err.message : `check.mjs: ${err?.stack ?? err}`);
		process.exitCode = 2;
	},
);
