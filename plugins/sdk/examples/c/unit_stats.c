/*
 * unit-stats: a neurozoo analysis plugin in plain C. For every unit of the representation, its
 * mean and standard deviation over the stimuli, as a table `units`.
 *
 *   cc -shared -fPIC -O2 -I plugins/sdk/include -o libneurozoo_plugin_unit_stats.so \
 *       plugins/sdk/examples/c/unit_stats.c -lm
 *   NEUROZOO_PLUGIN_PATH=. neurozoo analyze unit-stats --repr R.h5 --out stats
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "neurozoo_plugin.h"

static int32_t run(const nz_host *host, const nz_input *input) {
    const nz_array *r = &input->representation;
    if (r->ndim != 2) {
        host->fail(host->ctx, NZ_STR("the representation is not a matrix"));
        return NZ_ERROR;
    }
    size_t n = r->shape[0], units = r->shape[1];
    if (n == 0) {
        host->fail(host->ctx, NZ_STR("the representation has no stimuli"));
        return NZ_ERROR;
    }
    /* Everything handed to the host is ours: it copies what it keeps before the call returns. */
    int64_t *unit = malloc(units * sizeof *unit);
    double *mean = malloc(units * sizeof *mean), *sd = malloc(units * sizeof *sd);
    if (!unit || !mean || !sd) {
        free(unit), free(mean), free(sd);
        host->fail(host->ctx, NZ_STR("out of memory"));
        return NZ_ERROR;
    }
    for (size_t u = 0; u < units; u++) {
        double sum = 0.0, squares = 0.0;
        for (size_t i = 0; i < n; i++) {
            double v = r->data[i * units + u];
            sum += v;
        }
        mean[u] = sum / (double)n;
        for (size_t i = 0; i < n; i++) {
            double d = r->data[i * units + u] - mean[u];
            squares += d * d;
        }
        sd[u] = sqrt(squares / (double)n);
        unit[u] = (int64_t)u;
        host->progress(host->ctx, u + 1, units);
    }
    nz_column columns[3] = {
        {NZ_STR_INIT("unit"), NZ_COLUMN_I64, units, unit, NULL},
        {NZ_STR_INIT("mean"), NZ_COLUMN_F64, units, mean, NULL},
        {NZ_STR_INIT("sd"), NZ_COLUMN_F64, units, sd, NULL},
    };
    int32_t status = host->table(host->ctx, NZ_STR("units"), columns, 3);
    free(unit), free(mean), free(sd);
    if (status != NZ_OK) {
        return status; /* the host recorded why */
    }
    char line[64];
    int len = snprintf(line, sizeof line, "%zu units over %zu stimuli", units, n);
    host->log(host->ctx, NZ_LEVEL_INFO, (nz_str){(const uint8_t *)line, (size_t)len});
    return NZ_OK;
}

static const nz_descriptor DESCRIPTOR = {
    NZ_ABI_VERSION,
    sizeof(nz_descriptor),
    NZ_STR_INIT("unit-stats"),
    NZ_STR_INIT("0.1.0"),
    NZ_STR_INIT("mean and standard deviation of every unit (a plugin in C)"),
    NZ_STR_INIT("{}"),
    run,
    0,
};

const nz_descriptor *neurozoo_plugin_entry(void) { return &DESCRIPTOR; }
