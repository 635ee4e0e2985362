#include "CXMLArena.h"

#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/globals.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlmemory.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Every block carries a 16-byte header (keeps 16-byte alignment): its size and where it lives.
typedef struct {
    size_t size;
    uint64_t kind;
} block_header;

#define KIND_HEAP 0x48454150u   // malloc'd: free() it
#define KIND_ARENA 0x4152454eu  // in a thread's arena: dropped with the arena
#define KIND_SCOPED 0x53434f50u // malloc'd in an arena scope, linked in: freed at scope end if not before
#define HEADER sizeof(block_header)

// A scoped block's links sit before its header: [links][header][data].
typedef struct scoped_links {
    struct scoped_links *prev, *next;
} scoped_links;
#define LINKS sizeof(scoped_links)
// Blocks this large go to the heap even in an arena scope: a page's text buffers grow by
// doubling, and copies of large blocks would waste arena space.
#define LARGE_BLOCK (64 * 1024)
#define CHUNK_SIZE (1024 * 1024)
// Chunks kept between scopes (per thread); more are returned to the heap when a scope ends.
#define CHUNKS_KEPT 4

typedef struct chunk {
    struct chunk *next;
    size_t capacity;
    size_t used;
} chunk;

typedef struct {
    chunk *current;   // allocation happens here; older chunks follow through `next`
    chunk *spare;     // empty chunks kept for the next scope
    int depth;
    char *last;       // the latest arena block, which realloc may grow in place
    scoped_links scoped;  // list head of this scope's large blocks (a circular list)
} thread_arena;

static _Thread_local thread_arena arena;

static void die(const char *message) {
    fprintf(stderr, "quarry: internal error: %s\n", message);
    abort();
}

static size_t round_up(size_t n) { return (n + 15) & ~(size_t)15; }

static char *chunk_data(chunk *c) { return (char *)c + round_up(sizeof(chunk)); }

static void *heap_block(size_t size) {
    block_header *h = malloc(HEADER + size);
    if (h == NULL) return NULL;
    h->size = size;
    h->kind = KIND_HEAP;
    return (char *)h + HEADER;
}

static scoped_links *scoped_head(void) {
    if (arena.scoped.next == NULL) arena.scoped.next = arena.scoped.prev = &arena.scoped;
    return &arena.scoped;
}

static void link_scoped(scoped_links *l) {
    scoped_links *head = scoped_head();
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

static void unlink_scoped(scoped_links *l) {
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

// Large blocks in a scope come from the heap but are remembered, so that dropping the scope
// frees them too: a document can then be dropped without walking it.
static void *scoped_block(size_t size) {
    scoped_links *l = malloc(LINKS + HEADER + size);
    if (l == NULL) return NULL;
    link_scoped(l);
    block_header *h = (block_header *)(l + 1);
    h->size = size;
    h->kind = KIND_SCOPED;
    return (char *)h + HEADER;
}

static void *arena_block(size_t size) {
    size_t need = HEADER + round_up(size);
    chunk *c = arena.current;
    if (c == NULL || c->capacity - c->used < need) {
        if (arena.spare != NULL && arena.spare->capacity >= need) {
            c = arena.spare;
            arena.spare = c->next;
        } else {
            size_t capacity = CHUNK_SIZE - round_up(sizeof(chunk));
            c = malloc(round_up(sizeof(chunk)) + capacity);
            if (c == NULL) return NULL;
            c->capacity = capacity;
        }
        c->used = 0;
        c->next = arena.current;
        arena.current = c;
    }
    block_header *h = (block_header *)(chunk_data(c) + c->used);
    c->used += need;
    h->size = size;
    h->kind = KIND_ARENA;
    arena.last = (char *)h + HEADER;
    return arena.last;
}

static block_header *header_of(void *p) {
    block_header *h = (block_header *)((char *)p - HEADER);
    if (h->kind != KIND_HEAP && h->kind != KIND_ARENA && h->kind != KIND_SCOPED) die("libxml2 freed memory it did not allocate");
    return h;
}

static void *quarry_malloc(size_t size) {
    if (arena.depth > 0) return size < LARGE_BLOCK ? arena_block(size) : scoped_block(size);
    return heap_block(size);
}

static void quarry_free(void *p) {
    if (p == NULL) return;
    block_header *h = header_of(p);
    if (h->kind == KIND_HEAP) {
        h->kind = 0;
        free(h);
    } else if (h->kind == KIND_SCOPED) {
        h->kind = 0;
        scoped_links *l = (scoped_links *)h - 1;
        unlink_scoped(l);
        free(l);
    } else if (p == arena.last && arena.current != NULL) {
        // The latest block: give its space back (libxml2 often frees what it just allocated).
        arena.current->used = (size_t)((char *)h - chunk_data(arena.current));
        arena.last = NULL;
    }
}

static void *quarry_realloc(void *p, size_t size) {
    if (p == NULL) return quarry_malloc(size);
    block_header *h = header_of(p);
    if (h->kind == KIND_HEAP) {
        block_header *grown = realloc(h, HEADER + size);
        if (grown == NULL) return NULL;
        grown->size = size;
        return (char *)grown + HEADER;
    }
    if (h->kind == KIND_SCOPED) {
        scoped_links *l = (scoped_links *)h - 1;
        unlink_scoped(l);
        scoped_links *grown = realloc(l, LINKS + HEADER + size);
        if (grown == NULL) {
            link_scoped(l);
            return NULL;
        }
        link_scoped(grown);
        block_header *gh = (block_header *)(grown + 1);
        gh->size = size;
        return (char *)gh + HEADER;
    }
    if (size <= h->size) return p;
    chunk *c = arena.current;
    if (p == arena.last && c != NULL && size < LARGE_BLOCK) {
        size_t start = (size_t)((char *)h - chunk_data(c));
        if (c->capacity - start >= HEADER + round_up(size)) {
            c->used = start + HEADER + round_up(size);
            h->size = size;
            return p;
        }
    }
    void *moved = quarry_malloc(size);
    if (moved == NULL) return NULL;
    memcpy(moved, p, h->size);
    quarry_free(p);
    return moved;
}

static char *quarry_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = quarry_malloc(n);
    if (copy != NULL) memcpy(copy, s, n);
    return copy;
}

int quarry_xml_arena_install(void) {
    return xmlMemSetup(quarry_free, quarry_malloc, quarry_realloc, quarry_strdup);
}

void quarry_xml_arena_begin(void) {
    // libxml2 creates its per-thread state on first use: make sure that happens on the heap.
    if (arena.depth == 0) xmlResetLastError();
    arena.depth++;
}

void quarry_xml_arena_end(void) {
    if (arena.depth == 0) die("XML arena scope ended twice");
    if (--arena.depth > 0) return;
    // The last error's strings were allocated in the scope; drop them before the memory goes.
    xmlResetLastError();
    scoped_links *head = scoped_head();
    while (head->next != head) {
        scoped_links *l = head->next;
        unlink_scoped(l);
        ((block_header *)(l + 1))->kind = 0;
        free(l);
    }
#if defined(DEBUG)
    // Debug builds (the tests) poison what the scope used: a block libxml2 kept past the scope
    // then fails the header check loudly instead of reading reused memory.
    for (chunk *used = arena.current; used != NULL; used = used->next) memset(chunk_data(used), 0xDD, used->used);
#endif
    int kept = 0;
    for (chunk *s = arena.spare; s != NULL; s = s->next) kept++;
    chunk *c = arena.current;
    while (c != NULL) {
        chunk *next = c->next;
        if (kept < CHUNKS_KEPT) {
            c->next = arena.spare;
            arena.spare = c;
            kept++;
        } else {
            free(c);
        }
        c = next;
    }
    arena.current = NULL;
    arena.last = NULL;
}

void quarry_xml_free(void *pointer) { xmlFree(pointer); }

void quarry_xml_arena_drop_document(xmlDocPtr document) {
    if (document == NULL) return;
    if (arena.depth == 0) {
        xmlFreeDoc(document);
        return;
    }
    // Every block of the tree is in the arena or on the scope's list; only the dictionary
    // holds a mutex and pools from outside (plain malloc), so it alone is released.
    if (document->dict != NULL) xmlDictFree(document->dict);
}
