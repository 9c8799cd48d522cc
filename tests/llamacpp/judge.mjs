// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Judge: llama.cpp (through node-llama-cpp 3.21.1, CPU prebuilt) evaluates a token list on a GGUF
// model, optionally with GGUF LoRA adapters attached, and prints the next-token logits after
// every position as one JSON object on stdout.
//
//   node judge.mjs --model M.gguf [--lora A.gguf [--scale S]]... --tokens 1,5,9,3
//
// Output: {"vocab": n, "tokens": [...], "positions": [[n centred logits after token 0], ...]}
// "Centred logits" are log p_i minus their mean over the vocabulary: llama.cpp's logits up to an
// additive constant per position (node-llama-cpp exposes the softmax, not the logits).
//
// Exit codes: 0 ok; 2 bad command line or Node older than 20; 3 the model or an adapter failed
// to load (stdout holds {"error": "..."} with llama.cpp's own reason, e.g. "... (hint: maybe wrong
// base model?)"); 4 evaluation failed. Anything else (1 from Node, 134 from an abort) is a crash.
// Nothing is built or downloaded: gpu off, build "never", skipDownload.

function fail(code, message) {
    process.stdout.write(JSON.stringify({error: message}) + "\n");
    process.exit(code);
}

function parseArgs(argv) {
    const args = {model: null, loras: [], tokens: null};
    for (let i = 0; i < argv.length; i++) {
        const key = argv[i];
        const value = argv[++i];
        if (value === undefined) fail(2, `missing value after ${key}`);
        if (key === "--model") args.model = value;
        else if (key === "--lora") args.loras.push({filePath: value, scale: 1});
        else if (key === "--scale") {
            // --scale applies to the --lora just before it.
            if (args.loras.length === 0) fail(2, "--scale must follow --lora");
            const scale = Number(value);
            if (!Number.isFinite(scale)) fail(2, `bad --scale ${value}`);
            args.loras[args.loras.length - 1].scale = scale;
        } else if (key === "--tokens") {
            args.tokens = value.split(",").map((t) => Number(t));
            if (args.tokens.some((t) => !Number.isInteger(t) || t < 0))
                fail(2, `bad --tokens ${value}`);
        } else fail(2, `unknown option ${key}`);
    }
    if (!args.model || !args.tokens || args.tokens.length === 0)
        fail(2, "usage: node judge.mjs --model M.gguf [--lora A.gguf [--scale S]]... --tokens 1,5");
    return args;
}

// llama.cpp reports why a load failed only in its log; keep its error lines for the message.
const llamaErrors = [];
function logger(level, message) {
    if (level === "error" || level === "fatal") {
        const line = message.trim();
        if (line && !llamaErrors.includes(line)) llamaErrors.push(line);
    }
}

function withLlamaLog(e) {
    return [String(e?.message ?? e), ...llamaErrors].join(" | ");
}

// Centred logits from one probability map: log p_i - mean_j log p_j, in token-id order.
function centredLogits(probabilities, vocab, position) {
    const logp = new Float64Array(vocab);
    for (const [token, p] of probabilities) {
        if (!(p > 0)) fail(4, `p(token ${token}) underflows to 0 after position ${position}`);
        logp[token] = Math.log(p);
    }
    let mean = 0;
    for (const v of logp) mean += v;
    mean /= vocab;
    return Array.from(logp, (v) => v - mean);
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    // node-llama-cpp does not even parse on Node 18 (Debian 12's nodejs): say so plainly.
    if (Number(process.versions.node.split(".")[0]) < 20)
        fail(2, `node-llama-cpp needs Node >= 20, this is ${process.version}`);
    const {getLlama} = await import("node-llama-cpp");
    const llama = await getLlama({
        gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true,
        progressLogs: false, logLevel: "error", logger
    });

    let model, context;
    try {
        model = await llama.loadModel({modelPath: args.model, gpuLayers: 0});
    } catch (e) {
        fail(3, withLlamaLog(e));
    }
    try {
        // F32 KV cache and no flash attention: the default F16 cache would round K and V.
        const n = Math.max(args.tokens.length, 16);
        context = await model.createContext({
            contextSize: n, batchSize: n, sequences: 1, flashAttention: false,
            experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
            lora: args.loras.length ? {adapters: args.loras} : undefined
        });
    } catch (e) {
        fail(3, withLlamaLog(e));
    }

    // An id past the vocabulary would only give llama.cpp's bare "Eval has failed".
    const nTokens = model.fileInfo?.metadata?.tokenizer?.ggml?.tokens?.length;
    const bad = args.tokens.find((t) => nTokens !== undefined && t >= nTokens);
    if (bad !== undefined) fail(4, `token ${bad} is out of the vocabulary (${nTokens} tokens)`);

    let results;
    try {
        // Temperature 0 samples greedily and no penalty or bias is set, so the probabilities
        // are the plain softmax of llama.cpp's logits over the whole vocabulary.
        const next = {probabilities: true, options: {temperature: 0}};
        const input = args.tokens.map((t) => [t, {generateNext: next}]);
        results = await context.getSequence().controlledEvaluate(input);
    } catch (e) {
        fail(4, withLlamaLog(e));
    }

    const vocab = results[0]?.next?.probabilities?.size ?? 0;
    const positions = results.map((r, i) => {
        const p = r?.next?.probabilities;
        if (!p || p.size !== vocab) fail(4, `no full probability vector after position ${i}`);
        return centredLogits(p, vocab, i);
    });
    process.stdout.write(JSON.stringify({vocab, tokens: args.tokens, positions}) + "\n");
    await llama.dispose();
}

await main();
