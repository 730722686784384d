/* Provider selection (provider.h). */
#include "provider.h"

#include <string.h>

#include "aws.h"

int stv_cloud_open(const char *name, const struct stv_cloud_config *cfg, struct stv_cloud **out,
                   struct stv_err *err) {
  *out = NULL;
  if (strcmp(name, "sim") == 0) {
    if (cfg->sim == NULL || cfg->sim->catalog == NULL)
      return stv_err_set(err, STV_EINVAL, "sim provider: no catalogue to make its groups from");
    return stv_sim_new(out, cfg->clock, cfg->sim, err);
  }
  if (strcmp(name, "aws") == 0) {
    struct stv_aws_opts o;
    stv_aws_opts_default(&o);
    o.cluster_name = cfg->cluster_name;
    o.http = cfg->http;
    return stv_aws_new(out, cfg->clock, &o, err);
  }
  if (strcmp(name, "azure") == 0) {
    struct stv_azure_config o;
    if (cfg->azure != NULL)
      o = *cfg->azure;
    else
      memset(&o, 0, sizeof(o));
    if (o.cluster_name == NULL) o.cluster_name = cfg->cluster_name;
    return stv_cloud_open_azure(out, cfg->http, cfg->clock, &o, err);
  }
  return stv_err_set(err, STV_ENOTFOUND, "no provider \"%s\": this build has sim, aws and azure", name);
}
