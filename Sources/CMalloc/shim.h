#ifndef GRANTLEDGER_CMALLOC_SHIM_H
#define GRANTLEDGER_CMALLOC_SHIM_H
// glibc's malloc tuning (mallopt), for the server's arena limit (MallocArenas.swift).
#if defined(__linux__)
#include <malloc.h>
#endif
#endif
