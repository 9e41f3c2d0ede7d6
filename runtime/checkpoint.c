/*===- runtime/checkpoint.c - save and load: safetensors checkpoints -----===*
 *
 * A checkpoint holds a model's params, their optimizer state, the model
 * state (batch norm's running statistics), the step count and create's seed.
 * save writes a temporary file and renames it over the old one; load checks
 * the whole file before it changes anything. Compiled into each model's .so
 * with model_runtime.c (C99, libc only).
 *
 *===----------------------------------------------------------------------===*/
#include "model_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*===- Checkpoints: safetensors --------------------------------------------===*
 * u64 header length | JSON header | raw little-endian data. The header maps
 * each tensor name to {"dtype":"F32","shape":[..],"data_offsets":[begin,end]}
 * and "__metadata__" to string pairs (format, model, step, seed). */

typedef struct {
  char name[160];
  int64_t shape[DLC_MAX_RANK];
  int rank;
  int64_t begin, end;
  int f32;
} ckpt_entry;

/* The checkpoint's tensors of a model: params and their optimizer state,
 * then the state tensors. */
typedef struct {
  char name[160];
  int64_t offset, count;
  int tensor; /* index in the tensor table */
} ckpt_item;

static int checkpoint_items(const dlc_model *m, ckpt_item *items, int max) {
  static const char *const suffix[2][2] = {{":z", ""}, {":m", ":v"}};
  const dlc_rt_model *d = m->desc;
  int k = 0;
  for (int i = 0; i < d->api->tensor_count && k < max; ++i) {
    dlc_role role = d->api->tensors[i].role;
    if (role != DLC_ROLE_PARAM && role != DLC_ROLE_STATE) continue;
    const dlc_rt_tensor *t = &d->tensors[i];
    if ((size_t)snprintf(items[k].name, sizeof items[k].name, "%s", d->api->tensors[i].name) + 2 >= sizeof items[k].name)
      return -1; /* room for the ":m" of its state: keys are never cut */
    items[k].offset = t->offset, items[k].count = t->count, items[k].tensor = i;
    ++k;
    for (int s = 0; s < 2 && k < max; ++s) {
      if (t->state[s] < 0) continue;
      snprintf(items[k].name, sizeof items[k].name, "%s%s", d->api->tensors[i].name,
               suffix[d->optimizer == DLC_OPT_ADAM][s]);
      items[k].offset = t->state[s], items[k].count = t->count, items[k].tensor = i;
      ++k;
    }
  }
  return k;
}

/* A growing text buffer for the checkpoint header; `failed` once an
 * allocation failed (later appends do nothing). */
typedef struct {
  char *text;
  size_t len, cap;
  int failed;
} text_buffer;

static void append(text_buffer *b, const char *fmt, ...) {
  while (!b->failed) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->text + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = 2 * b->cap + (n > 0 ? (size_t)n : 0) + 1;
    char *grown = n < 0 ? NULL : (char *)realloc(b->text, cap);
    if (!grown) b->failed = 1;
    else b->text = grown, b->cap = cap;
  }
}

/* A JSON string's contents: quotes and backslashes escaped, control bytes
 * as \u00XX (names reach here as the model's source spelled them). */
static void append_json_string(text_buffer *b, const char *s) {
  for (; *s; ++s) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') append(b, "\\%c", c);
    else if (c < 0x20) append(b, "\\u%04x", c);
    else append(b, "%c", c);
  }
}

/* The JSON header of a checkpoint of `m` with `count` items, padded with
 * spaces to a multiple of 8 bytes; NULL when out of memory. */
static char *checkpoint_header(const dlc_model *m, const ckpt_item *items, int count, size_t *len) {
  text_buffer hb = {(char *)malloc(256), 0, 256, 0};
  if (!hb.text) return NULL;
  append(&hb, "{\"__metadata__\":{\"format\":\"dlc\",\"model\":\"");
  append_json_string(&hb, m->desc->api->model_name);
  append(&hb, "\",\"step\":\"%lld\",\"seed\":\"%llu\"}", (long long)m->step, (unsigned long long)m->seed);
  int64_t at = 0;
  for (int k = 0; k < count; ++k) {
    const dlc_tensor_info *info = &m->desc->api->tensors[items[k].tensor];
    append(&hb, ",\"");
    append_json_string(&hb, items[k].name);
    append(&hb, "\":{\"dtype\":\"F32\",\"shape\":[");
    for (int r = 0; r < info->rank && r < DLC_MAX_RANK; ++r) append(&hb, "%s%lld", r ? "," : "", (long long)info->dims[r]);
    append(&hb, "],\"data_offsets\":[%lld,%lld]}", (long long)at, (long long)(at + 4 * items[k].count));
    at += 4 * items[k].count;
  }
  append(&hb, "}");
  while (!hb.failed && hb.len % 8) append(&hb, " ");
  if (hb.failed) {
    free(hb.text);
    return NULL;
  }
  *len = hb.len;
  return hb.text;
}

dlc_status dlc_rt_save(const dlc_model *m, const char *path) {
  dlc_model *mm = (dlc_model *)m;
  if (!m) return fail(NULL, DLC_ERR_NULL, "save: the model is null");
  if (!path) return fail(mm, DLC_ERR_NULL, "save: the path is null");
  int max = 3 * m->desc->api->tensor_count + 1;
  ckpt_item *items = (ckpt_item *)calloc((size_t)max, sizeof(ckpt_item));
  if (!items) return fail(mm, DLC_ERR_NOMEM, "save: out of memory");
  int count = checkpoint_items(m, items, max);
  if (count < 0) {
    free(items);
    return fail(mm, DLC_ERR_NAME, "save: a param name is longer than %d bytes", (int)sizeof items[0].name - 3);
  }
  size_t len = 0;
  char *header = checkpoint_header(m, items, count, &len);
  if (!header) {
    free(items);
    return fail(mm, DLC_ERR_NOMEM, "save: out of memory");
  }

  char tmp[4096];
  int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
  dlc_status status = DLC_OK;
  FILE *f = n > 0 && (size_t)n < sizeof tmp ? fopen(tmp, "wb") : NULL;
  if (!f) {
    status = fail(mm, DLC_ERR_IO, "save: cannot write '%s'", tmp);
  } else {
    unsigned char size[8];
    for (int b = 0; b < 8; ++b) size[b] = (unsigned char)(((uint64_t)len >> (8 * b)) & 0xff);
    int ok = fwrite(size, 1, 8, f) == 8 && fwrite(header, 1, len, f) == len;
    for (int k = 0; ok && k < count; ++k)
      ok = fwrite(m->arena + items[k].offset, sizeof(float), (size_t)items[k].count, f) == (size_t)items[k].count;
    ok = (fflush(f) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
      remove(tmp);
      status = fail(mm, DLC_ERR_IO, "save: writing '%s' failed; the old file, if any, is unchanged", path);
    }
  }
  free(header);
  free(items);
  return status;
}

/* A small JSON reader for the safetensors header. */
typedef struct {
  const char *p, *end;
} json;

static void ws(json *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) ++j->p;
}
static int take(json *j, char c) {
  ws(j);
  if (j->p < j->end && *j->p == c) {
    ++j->p;
    return 1;
  }
  return 0;
}
static int string(json *j, char *out, size_t cap) {
  if (!take(j, '"')) return 0;
  size_t n = 0;
  while (j->p < j->end && *j->p != '"') {
    char c = *j->p++;
    if (c == '\\') {
      if (j->p >= j->end) return 0;
      c = *j->p++;
      if (c == 'u') { /* save escapes control bytes as \u00XX; nothing else */
        unsigned v = 0;
        for (int d = 0; d < 4; ++d) {
          char h = j->p < j->end ? *j->p++ : 0;
          if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f'))) return 0;
          v = 16 * v + (unsigned)(h <= '9' ? h - '0' : h - 'a' + 10);
        }
        if (v == 0 || v >= 0x20) return 0;
        c = (char)v;
      }
    }
    if (n + 1 >= cap) return 0;
    out[n++] = c;
  }
  if (j->p >= j->end) return 0;
  ++j->p;
  out[n] = 0;
  return 1;
}
static int integer(json *j, int64_t *out) {
  ws(j);
  int64_t v = 0;
  const char *start = j->p;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
    if (v > (INT64_MAX - 9) / 10) return 0;
    v = v * 10 + (*j->p++ - '0');
  }
  *out = v;
  return j->p > start;
}
static int int_array(json *j, int64_t *out, int max, int *count) {
  if (!take(j, '[')) return 0;
  *count = 0;
  if (take(j, ']')) return 1;
  do {
    if (*count >= max || !integer(j, &out[(*count)++])) return 0;
  } while (take(j, ','));
  return take(j, ']');
}
/* Skips any value (for keys a reader does not need). */
static int skip(json *j, int depth) {
  ws(j);
  if (depth > 16 || j->p >= j->end) return 0;
  char tmp[256];
  if (*j->p == '"') return string(j, tmp, sizeof tmp);
  if (*j->p == '{' || *j->p == '[') {
    char close = *j->p == '{' ? '}' : ']';
    int object = *j->p == '{';
    ++j->p;
    if (take(j, close)) return 1;
    do {
      if (object && !(string(j, tmp, sizeof tmp) && take(j, ':'))) return 0;
      if (!skip(j, depth + 1)) return 0;
    } while (take(j, ','));
    return take(j, close);
  }
  while (j->p < j->end && (strchr("-+.eE0123456789truefalsn", *j->p))) ++j->p;
  return 1;
}

static int tensor_entry(json *j, ckpt_entry *e) {
  if (!take(j, '{')) return 0;
  char key[64], dtype[16] = "";
  int haveShape = 0, haveOffsets = 0;
  do {
    if (!string(j, key, sizeof key) || !take(j, ':')) return 0;
    if (strcmp(key, "dtype") == 0) {
      if (!string(j, dtype, sizeof dtype)) return 0;
    } else if (strcmp(key, "shape") == 0) {
      if (!int_array(j, e->shape, DLC_MAX_RANK, &e->rank)) return 0;
      haveShape = 1;
    } else if (strcmp(key, "data_offsets") == 0) {
      int64_t off[2];
      int n = 0;
      if (!int_array(j, off, 2, &n) || n != 2) return 0;
      e->begin = off[0], e->end = off[1];
      haveOffsets = 1;
    } else if (!skip(j, 0)) {
      return 0;
    }
  } while (take(j, ','));
  e->f32 = strcmp(dtype, "F32") == 0;
  return take(j, '}') && haveShape && haveOffsets;
}

/* The parsed JSON header of a checkpoint. */
typedef struct {
  ckpt_entry *entries; /* one per tensor, in file order */
  int count, max;
  int64_t step;
  uint64_t seed;
  int has_seed;               /* checkpoints before ABI 3 have none */
  const char *expected_model; /* the loading model's name */
  char model[160];            /* the checkpoint's, when it is another */
  int wrong_model;
  int bad_step, bad_seed;
  char step_text[160]; /* the bad step count or seed */
} ckpt_header;

/* The step count of a checkpoint: decimal digits only, at most MAX_STEP
 * (so that training on never overflows it). */
#define MAX_STEP ((int64_t)1 << 53)
static int parse_step(const char *text, int64_t *out) {
  int64_t v = 0;
  if (!*text) return 0;
  for (const char *c = text; *c; ++c) {
    if (*c < '0' || *c > '9') return 0;
    v = v * 10 + (*c - '0');
    if (v > MAX_STEP) return 0;
  }
  *out = v;
  return 1;
}

/* A seed: decimal digits only, at most 2^64 - 1. */
static int parse_seed(const char *text, uint64_t *out) {
  uint64_t v = 0;
  if (!*text) return 0;
  for (const char *c = text; *c; ++c) {
    if (*c < '0' || *c > '9' || v > (UINT64_MAX - (uint64_t)(*c - '0')) / 10) return 0;
    v = v * 10 + (uint64_t)(*c - '0');
  }
  *out = v;
  return 1;
}

/* "__metadata__": {"format":..,"model":..,"step":"N","seed":"S"}. Stops at a
 * model name other than the expected one or a bad step count or seed. */
static int read_metadata(json *j, ckpt_header *h) {
  int ok = take(j, '{');
  char key[64], value[160];
  while (ok && !take(j, '}')) {
    ok = string(j, key, sizeof key) && take(j, ':') && string(j, value, sizeof value);
    if (ok && strcmp(key, "step") == 0 && !parse_step(value, &h->step)) {
      snprintf(h->step_text, sizeof h->step_text, "%s", value);
      h->bad_step = 1;
      return 0;
    }
    if (ok && strcmp(key, "seed") == 0 && !(h->has_seed = parse_seed(value, &h->seed))) {
      snprintf(h->step_text, sizeof h->step_text, "%s", value);
      h->bad_seed = 1;
      return 0;
    }
    if (ok && strcmp(key, "model") == 0 && strcmp(value, h->expected_model) != 0) {
      snprintf(h->model, sizeof h->model, "%s", value);
      h->wrong_model = 1;
      return 0;
    }
    if (ok) take(j, ',');
  }
  return ok;
}

/* The header object: the metadata and one entry per tensor. */
static int read_header(json *j, ckpt_header *h) {
  char key[160];
  if (!take(j, '{')) return 0;
  if (take(j, '}')) return 1;
  int ok;
  do {
    ok = string(j, key, sizeof key) && take(j, ':');
    if (!ok) break;
    if (strcmp(key, "__metadata__") == 0) {
      ok = read_metadata(j, h);
    } else {
      if (h->count >= h->max) return 0;
      ckpt_entry *e = &h->entries[h->count++];
      snprintf(e->name, sizeof e->name, "%s", key);
      ok = tensor_entry(j, e);
    }
  } while (ok && take(j, ','));
  ok = ok && take(j, '}');
  ws(j);
  return ok && j->p == j->end; /* only padding after the header's object */
}

/* Whether the entries' bytes cover the data exactly (a header length off by
 * a byte would shift every tensor), each entry within it. */
static dlc_status check_coverage(dlc_model *m, const char *path, const ckpt_header *h, uint64_t data_size) {
  uint64_t covered = 0;
  for (int i = 0; i < h->count; ++i) {
    const ckpt_entry *e = &h->entries[i];
    if (e->begin < 0 || e->end < e->begin || (uint64_t)e->end > data_size)
      return fail(m, DLC_ERR_FORMAT, "load: tensor '%s' in '%s' points outside the file", e->name, path);
    covered += (uint64_t)(e->end - e->begin);
  }
  if (covered != data_size)
    return fail(m, DLC_ERR_FORMAT, "load: the tensors of '%s' cover %llu of its %llu data bytes", path,
                (unsigned long long)covered, (unsigned long long)data_size);
  return DLC_OK;
}

/* The whole file, or NULL (with *size -1 when it cannot be read). */
static char *read_file(const char *path, long *size) {
  FILE *f = fopen(path, "rb");
  *size = -1;
  if (!f) return NULL;
  char *bytes = NULL;
  if (fseek(f, 0, SEEK_END) == 0) *size = ftell(f);
  if (*size >= 0 && fseek(f, 0, SEEK_SET) == 0) bytes = (char *)malloc((size_t)*size + 1);
  int ok = bytes && fread(bytes, 1, (size_t)*size, f) == (size_t)*size;
  fclose(f);
  if (!ok) {
    free(bytes);
    return NULL;
  }
  return bytes;
}

/* Copies the checkpoint's data of `item` into `staged` after checking its
 * dtype, shape and extent; an absent optimizer state starts at zero. */
static dlc_status stage_item(dlc_model *m, const char *path, const ckpt_item *item, const ckpt_header *h,
                             const char *data, uint64_t data_size, float *staged) {
  const dlc_tensor_info *info = &m->desc->api->tensors[item->tensor];
  const ckpt_entry *e = NULL;
  for (int i = 0; i < h->count && !e; ++i)
    if (strcmp(h->entries[i].name, item->name) == 0) e = &h->entries[i];
  int is_state = strcmp(item->name, info->name) != 0;
  if (!e && is_state) { /* a checkpoint without optimizer state */
    memset(staged + item->offset, 0, (size_t)item->count * sizeof(float));
    return DLC_OK;
  }
  if (!e && info->role == DLC_ROLE_STATE)
    return fail(m, DLC_ERR_FORMAT, "load: '%s' has no tensor '%s' (state of the model; a checkpoint of another "
                "build, or from before ABI 3)", path, item->name);
  if (!e) return fail(m, DLC_ERR_FORMAT, "load: '%s' has no tensor '%s'", path, item->name);
  int same = e->f32 && e->rank == info->rank;
  for (int r = 0; same && r < info->rank; ++r) same = e->shape[r] == info->dims[r];
  if (!same) return fail(m, DLC_ERR_FORMAT, "load: tensor '%s' in '%s' has the wrong dtype or shape", item->name, path);
  if (e->begin < 0 || e->end < e->begin || (uint64_t)e->end > data_size || e->end - e->begin != 4 * item->count)
    return fail(m, DLC_ERR_FORMAT, "load: tensor '%s' in '%s' points outside the file", item->name, path);
  memcpy(staged + item->offset, data + e->begin, (size_t)item->count * sizeof(float));
  return DLC_OK;
}

/* Reads the file, parses its header, stages every param, optimizer state and
 * state tensor in a copy of the arena, and only when all of them are there
 * and right replaces the arena, the step count and the seed. */
dlc_status dlc_rt_load(dlc_model *m, const char *path) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "load: the model is null");
  if (!path) return fail(m, DLC_ERR_NULL, "load: the path is null");
  long size;
  char *bytes = read_file(path, &size);
  if (!bytes) return fail(m, DLC_ERR_IO, "load: cannot read '%s'", path);
  dlc_status status = DLC_OK;
  const dlc_rt_model *d = m->desc;
  int max = 3 * d->api->tensor_count + 1;
  ckpt_item *items = (ckpt_item *)calloc((size_t)max, sizeof(ckpt_item));
  ckpt_header h = {(ckpt_entry *)calloc((size_t)max + 64, sizeof(ckpt_entry)), 0, max + 64, 0, 0, 0, d->api->model_name,
                   "", 0, 0, 0, ""};
  float *staged = (float *)malloc((size_t)d->arena_size * sizeof(float));
  int count = items ? checkpoint_items(m, items, max) : 0;
  uint64_t hlen = 0;
  for (int b = 0; size >= 8 && b < 8; ++b) hlen |= (uint64_t)(unsigned char)bytes[b] << (8 * b);
  if (!items || !h.entries || !staged) {
    status = fail(m, DLC_ERR_NOMEM, "load: out of memory");
  } else if (count < 0) {
    status = fail(m, DLC_ERR_NAME, "load: a param name is longer than %d bytes", (int)sizeof items[0].name - 3);
  } else if (size < 8 || hlen > (uint64_t)size - 8) {
    status = fail(m, DLC_ERR_FORMAT, "load: '%s' is not a safetensors checkpoint (bad header size)", path);
  } else {
    json j = {bytes + 8, bytes + 8 + hlen};
    int ok = read_header(&j, &h);
    if (h.wrong_model)
      status = fail(m, DLC_ERR_FORMAT, "load: '%s' is a checkpoint of model '%s', not '%s'", path, h.model,
                    d->api->model_name);
    else if (h.bad_step)
      status = fail(m, DLC_ERR_FORMAT, "load: '%s' has a bad step count \"%s\" (digits, at most %lld)", path,
                    h.step_text, (long long)MAX_STEP);
    else if (h.bad_seed)
      status = fail(m, DLC_ERR_FORMAT, "load: '%s' has a bad seed \"%s\" (digits, below 2^64)", path, h.step_text);
    else if (!ok)
      status = fail(m, DLC_ERR_FORMAT, "load: '%s' has a malformed header", path);
    else
      status = check_coverage(m, path, &h, (uint64_t)size - 8 - hlen);
  }
  if (status == DLC_OK) {
    memcpy(staged, m->arena, (size_t)d->arena_size * sizeof(float));
    for (int k = 0; k < count && status == DLC_OK; ++k)
      status = stage_item(m, path, &items[k], &h, bytes + 8 + hlen, (uint64_t)size - 8 - hlen, staged);
  }
  if (status == DLC_OK) {
    memcpy(m->arena, staged, (size_t)d->arena_size * sizeof(float));
    m->step = h.step;
    if (h.has_seed) m->seed = h.seed; /* the masks of the run that saved it */
  }
  free(bytes);
  free(items);
  free(h.entries);
  free(staged);
  return status;
}
