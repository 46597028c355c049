/* Every limit sluice enforces, in one place, with how they relate. */
#ifndef SL_LIMITS_H
#define SL_LIMITS_H

#include <assert.h>

/* Rows in one columnar batch. A power of two: validity bitmaps are 64-bit words. */
#define SL_BATCH_ROWS 1024u
/* Bytes of string data one batch carries (its string heap). */
#define SL_BATCH_HEAP_BYTES (256u * 1024u)
/* Columns in one schema. */
#define SL_MAX_COLS 64u
/* Longest column, node or job name. */
#define SL_NAME_MAX 64u
/* Longest input record (a line of a file, a message). */
#define SL_RECORD_MAX_BYTES (1024u * 1024u)
/* Deepest JSON nesting accepted. */
#define SL_JSON_MAX_DEPTH 64u
/* Most worker threads. */
#define SL_MAX_WORKERS 256u
/* Nodes (sources + steps + sinks) in one job. */
#define SL_MAX_NODES 128u
/* Inputs of one union step. */
#define SL_MAX_INPUTS 16u
/* Named outputs of one step (route). */
#define SL_MAX_PORTS 32u
/* Key columns of a key_by / aggregate. */
#define SL_MAX_KEYS 8u
/* Default and largest key-group count (Flink's max parallelism). */
#define SL_MAX_PARALLELISM_DEFAULT 1024u
#define SL_MAX_PARALLELISM_MAX 32768u
/* Messages one SPSC exchange ring holds (a power of two); also the credit a
 * producer has towards one consumer: batches in flight to it, at most. */
#define SL_RING_SLOTS 16u
/* Batches a worker may own at once, by default: a memory budget, not a hint. */
#define SL_POOL_BATCHES_MIN 256u
/* Flush tick of key_by: partial batches leave at most this late. */
#define SL_FLUSH_TICK_NS 1000000ll
/* Largest YAML job file, nodes in it, nesting. */
#define SL_CONFIG_MAX_BYTES (4u * 1024u * 1024u)
#define SL_CONFIG_MAX_NODES 65536u
#define SL_CONFIG_MAX_DEPTH 32u
/* Expression size in nodes and nesting. */
#define SL_EXPR_MAX_NODES 256u
#define SL_EXPR_MAX_DEPTH 32u
/* File source read unit and file sink write buffer. */
#define SL_FILE_READ_BYTES (1024u * 1024u)
#define SL_FILE_WRITE_BYTES (1024u * 1024u)
/* A big file is split into line-aligned ranges of at least this many bytes. */
#define SL_FILE_SPLIT_MIN_BYTES (16u * 1024u * 1024u)
/* Files one glob may match. */
#define SL_FILE_MAX_FILES 65536u

static_assert((SL_BATCH_ROWS & (SL_BATCH_ROWS - 1)) == 0, "batch rows must be a power of two");
static_assert(SL_BATCH_ROWS % 64 == 0, "validity bitmaps use 64-bit words");
static_assert((SL_RING_SLOTS & (SL_RING_SLOTS - 1)) == 0, "ring slots must be a power of two");
static_assert(SL_BATCH_HEAP_BYTES < (1u << 31), "string offsets are 32-bit");
static_assert(SL_FILE_READ_BYTES >= 2 * 64 * 1024, "read unit holds many records");
static_assert(SL_RECORD_MAX_BYTES >= SL_BATCH_HEAP_BYTES, "a record may fill a batch heap");
static_assert(SL_MAX_PARALLELISM_DEFAULT <= SL_MAX_PARALLELISM_MAX, "default within max");
static_assert(SL_MAX_WORKERS <= SL_MAX_PARALLELISM_MAX, "each worker owns at least one key group");

#endif
