// Starts Swagger UI from a file, not an inline script, so /docs runs under a CSP without
// 'unsafe-inline'. The page passes the OpenAPI URL in this script tag's data attribute.
(function () {
  "use strict";
  var openapiUrl = document.currentScript.dataset.openapiUrl;
  window.ui = SwaggerUIBundle({
    url: openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    persistAuthorization: false,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
