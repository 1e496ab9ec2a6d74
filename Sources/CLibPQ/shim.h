#ifndef GRANTLEDGER_CLIBPQ_SHIM_H
#define GRANTLEDGER_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
