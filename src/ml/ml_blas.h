/*-------------------------------------------------------------------------
 *
 * ml_blas.h
 *		The BLAS (through OpenBLAS's CBLAS) and the LAPACK routines the ML
 *		core uses.
 *
 * LAPACK is called through its Fortran symbols, which Debian's OpenBLAS
 * exports, with the hidden string-length arguments gfortran expects at the
 * end (one per character argument).
 *
 * src/ml/ml_blas.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_ML_BLAS_H
#define DWC_ML_BLAS_H

#include <cblas.h>

extern void dgelsy_(const int *m, const int *n, const int *nrhs, double *a, const int *lda, double *b,
					const int *ldb, int *jpvt, const double *rcond, int *rank, double *work,
					const int *lwork, int *info);
extern void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b,
				   const int *ldb, int *info, size_t uplo_len);

#endif							/* DWC_ML_BLAS_H */
