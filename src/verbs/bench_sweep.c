/*
 * bench_sweep.c - a bench sweep (see czpg/bench.h): `--rtt 0.1,0.25,1` or
 * `--conn-lifetime 1,10,100,0` runs one whole bench per value, each with its
 * own pools and its own interval, so that the points are independent
 * measurements.  For a lifetime sweep it also splits what TLS adds into its
 * two parts by least squares over the points: added time per query =
 * per_query + per_connection / lifetime (docs/bench.md, "Connection
 * lifetime"), weighting each point by how precisely it was measured.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/bench.h"
#include "czpg/stats.h"

enum czpg_bench_axis czpg_bench_sweep_axis(const struct czpg_bench_options *opt)
{
	if (opt->n_sweep_rtt > 1)
		return CZPG_BENCH_AXIS_RTT;
	if (opt->n_sweep_lifetime > 1)
		return CZPG_BENCH_AXIS_LIFETIME;
	return CZPG_BENCH_AXIS_NONE;
}

/*
 * What TLS added per query at one point, in microseconds of a connection's
 * time: the overhead times the plaintext pool's connection time per query
 * (round time x connections x pipeline / queries), so a reconnect's time
 * counts with the queries it served.  NaN when the point has no interval.
 */
static double added_per_query_us(const struct czpg_bench_options *o,
				 const struct czpg_bench_result *r)
{
	const struct czpg_bench_pool_result *pl = &r->pools[1];

	if (!r->have_stats || pl->units == 0)
		return NAN;
	return r->stats.overhead * pl->busy_s * 1e6 * (double)(o->pool * o->pipeline) /
	       (double)pl->units;
}

/*
 * Weighted least squares of y (added us per query) on x = 1 / lifetime (0
 * for a connection that lives on), each point weighted by the inverse
 * square of its standard error (from its widest 95% interval), so that a
 * noisy point pulls the fit less than a precise one.
 */
static void fit_lifetime(struct czpg_bench_sweep *sw)
{
	double sw0 = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0, x, y, w, se, lo, hi, den, n = 0;
	const struct czpg_bench_result *r;
	size_t i;

	memset(&sw->fit, 0, sizeof(sw->fit));
	for (i = 0; i < sw->n; i++) {
		r = &sw->points[i];
		y = added_per_query_us(&sw->opts[i], r);
		if (sw->rc[i] < 0 || isnan(y) || r->stats.overhead == 0)
			continue;
		czpg_stats_widest(&r->stats, &lo, &hi);
		/* the interval in us: the overhead's, scaled as y is */
		se = (hi - lo) / (2 * 1.96) * fabs(y / r->stats.overhead);
		w = 1.0 / (se > 1e-9 ? se * se : 1e-18);
		x = sw->opts[i].conn_lifetime == 0 ? 0 : 1.0 / sw->opts[i].conn_lifetime;
		sw0 += w, sx += w * x, sy += w * y, sxx += w * x * x, sxy += w * x * y,
		    syy += w * y * y, n++;
	}
	den = sw0 * sxx - sx * sx;
	if (n < 2 || den <= 0)
		return;
	sw->fit.per_connection_us = (sw0 * sxy - sx * sy) / den;
	sw->fit.per_query_us = (sy - sw->fit.per_connection_us * sx) / sw0;
	x = sw0 * syy - sy * sy;
	sw->fit.r2 = x > 0 ? (sw0 * sxy - sx * sy) * (sw0 * sxy - sx * sy) / (den * x) : 1.0;
	sw->fit.have = true;
}

int czpg_bench_sweep_run(const struct czpg_bench_options *opt, struct czpg_bench_sweep *sw)
{
	size_t i, n;
	int rc = 0;

	memset(sw, 0, sizeof(*sw));
	sw->axis = czpg_bench_sweep_axis(opt);
	n = sw->axis == CZPG_BENCH_AXIS_RTT ? opt->n_sweep_rtt : opt->n_sweep_lifetime;
	if (n > CZPG_BENCH_MAX_POINTS)
		n = CZPG_BENCH_MAX_POINTS;
	sw->points = calloc(n > 0 ? n : 1, sizeof(*sw->points));
	if (sw->points == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		struct czpg_bench_options *o = &sw->opts[i];

		*o = *opt;
		o->n_sweep_rtt = o->n_sweep_lifetime = 0;
		if (sw->axis == CZPG_BENCH_AXIS_RTT)
			o->rtt_ms = opt->sweep_rtt_ms[i];
		else
			o->conn_lifetime = opt->sweep_lifetime[i];
		if (o->progress != NULL) {
			if (sw->axis == CZPG_BENCH_AXIS_RTT)
				fprintf(o->progress, "point %zu of %zu: --rtt %g\n", i + 1, n,
					o->rtt_ms);
			else
				fprintf(o->progress, "point %zu of %zu: --conn-lifetime %u\n",
					i + 1, n, o->conn_lifetime);
		}
		sw->rc[i] = czpg_bench_run(o, &sw->points[i]);
		sw->outcome[i] = czpg_bench_outcome(o, &sw->points[i], sw->rc[i]);
		sw->n = i + 1;
		if (sw->rc[i] < 0) {
			rc = -1;
			break;
		}
	}
	if (sw->axis == CZPG_BENCH_AXIS_LIFETIME)
		fit_lifetime(sw);
	return rc;
}

void czpg_bench_sweep_free(struct czpg_bench_sweep *sw)
{
	size_t i;

	if (sw == NULL || sw->points == NULL)
		return;
	for (i = 0; i < sw->n; i++)
		czpg_bench_result_free(&sw->points[i]);
	free(sw->points);
	sw->points = NULL;
	sw->n = 0;
}

enum czpg_result czpg_bench_sweep_outcome(const struct czpg_bench_sweep *sw)
{
	size_t i;

	if (sw->n == 0)
		return CZPG_RESULT_ERROR;
	for (i = 0; i < sw->n; i++)
		if (sw->outcome[i] != CZPG_RESULT_OK)
			return CZPG_RESULT_ERROR;
	return CZPG_RESULT_OK;
}
