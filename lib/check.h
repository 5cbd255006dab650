/*
 * check.h - consistency of logged online values with computed ones.
 *
 * Training/serving skew, measured: given the feature values a system served
 * at request time (logged as CSV, one row per left row, in left order) and
 * the values feat computes for the same rows, count per feature how many
 * rows agree, how many differ, where nulls appear, and the mean relative
 * difference of the numbers (Chronon's consistency metrics).
 */
#ifndef FEAT_CHECK_H
#define FEAT_CHECK_H

#include "buf.h"

struct feat_error;
struct feat_plan;

/*
 * Compares the CSV files ours (feat's output) and logged, both with a
 * header naming their columns, row by row, on every feature and derived
 * column of the plan's join that logged has. Appends the report (CSV: one
 * row per feature) to report. Returns 0, or -1 with err set (unreadable
 * files, malformed CSV, different row counts).
 */
int feat_check_against(const struct feat_plan *plan, const char *ours,
		       const char *logged, struct feat_buf *report,
		       struct feat_error *err);

#endif
