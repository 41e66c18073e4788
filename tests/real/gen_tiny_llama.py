#!/usr/bin/env python3
"""Write a tiny llama model with random weights as GGUF, for llama-server in tests.

    PYTHONPATH=$LLAMA_SRC/gguf-py python3 gen_tiny_llama.py VOCAB.gguf OUT.gguf

No package ships a model small enough, and nothing may be downloaded, so the
tests make one: architecture "llama", n_embd 64, 2 layers, 2 heads, n_ff 256,
n_ctx_train 2048, about 4.2 M parameters (the 32000-token embedding and output
matrices are nearly all of it), F32, fixed seed so every build makes the same
file. The vocabulary (tokens, scores, types, special ids) is copied from
llama.cpp's own models/ggml-vocab-llama-spm.gguf, with one change: the 256
byte tokens <0x00>..<0xFF> become CONTROL tokens. Random weights pick byte
tokens freely, and a lone byte of a multi-byte UTF-8 sequence makes
llama-server reject its own output with HTTP 500; control tokens are never
rendered, so every completion is valid UTF-8.
"""
import sys

import numpy as np
import gguf

N_EMBD = 64
N_LAYER = 2
N_HEAD = 2
N_FF = 256
N_CTX_TRAIN = 2048
SEED = 20261129


def field(reader, name):
    f = reader.fields[name]
    return f.contents()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_tiny_llama.py VOCAB.gguf OUT.gguf")
    vocab_path, out_path = sys.argv[1], sys.argv[2]
    r = gguf.GGUFReader(vocab_path)
    tokens = field(r, "tokenizer.ggml.tokens")
    scores = field(r, "tokenizer.ggml.scores")
    types = list(field(r, "tokenizer.ggml.token_type"))
    n_vocab = len(tokens)
    byte_tokens = 0
    for i, t in enumerate(tokens):
        if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            types[i] = gguf.TokenType.CONTROL
            byte_tokens += 1
    if byte_tokens != 256:
        sys.exit(f"expected 256 byte tokens in {vocab_path}, found {byte_tokens}")

    w = gguf.GGUFWriter(out_path, "llama")
    w.add_name("agentos-tiny-random-llama")
    w.add_context_length(N_CTX_TRAIN)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)

    w.add_tokenizer_model(field(r, "tokenizer.ggml.model"))
    w.add_tokenizer_pre(field(r, "tokenizer.ggml.pre"))
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(field(r, "tokenizer.ggml.bos_token_id"))
    w.add_eos_token_id(field(r, "tokenizer.ggml.eos_token_id"))
    w.add_unk_token_id(field(r, "tokenizer.ggml.unknown_token_id"))
    w.add_add_bos_token(field(r, "tokenizer.ggml.add_bos_token"))
    w.add_add_eos_token(field(r, "tokenizer.ggml.add_eos_token"))

    rng = np.random.default_rng(SEED)

    def rand(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    # numpy shapes are ggml's ne reversed: token_embd is ne [n_embd, n_vocab].
    w.add_tensor("token_embd.weight", rand(n_vocab, N_EMBD))
    for i in range(N_LAYER):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(b + "attn_q.weight", rand(N_EMBD, N_EMBD))
        w.add_tensor(b + "attn_k.weight", rand(N_EMBD, N_EMBD))
        w.add_tensor(b + "attn_v.weight", rand(N_EMBD, N_EMBD))
        w.add_tensor(b + "attn_output.weight", rand(N_EMBD, N_EMBD))
        w.add_tensor(b + "ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(b + "ffn_gate.weight", rand(N_FF, N_EMBD))
        w.add_tensor(b + "ffn_up.weight", rand(N_FF, N_EMBD))
        w.add_tensor(b + "ffn_down.weight", rand(N_EMBD, N_FF))
    w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    w.add_tensor("output.weight", rand(n_vocab, N_EMBD))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
