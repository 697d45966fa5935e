//! A stack behind the harness's self-service UI ([`crate::ui::UiApp`]).

use crate::service::Service;

use super::OryStackBuilder;

impl OryStackBuilder {
    /// Kratos behind the self-service UI `ui` ([`crate::ui::UiApp`]): on
    /// the ports `ui` reserved for it, its public API at
    /// `http://auth.orygate.test:PORT/`, its flows' UI URLs on the app,
    /// its cookies for both hosts. For an app started with Hydra, Hydra
    /// too: on its reserved ports, its issuer
    /// `http://oauth.orygate.test:PORT/`, its login, consent and error
    /// URLs on the app.
    ///
    /// # Panics
    /// If `ui` fronts a stack already.
    #[must_use]
    pub fn self_service_ui(self, ui: &crate::ui::UiApp) -> Self {
        let ports = ui
            .take_kratos_ports()
            .expect("a self-service UI fronts one stack");
        let mut builder = self
            .ports(Service::Kratos, ports)
            .overlay(Service::Kratos, ui.kratos_overlay().clone())
            .env(
                Service::Kratos,
                "SERVE_PUBLIC_BASE_URL",
                ui.kratos_origin().as_str(),
            );
        if let Some((ports, env)) = ui.take_hydra() {
            builder = builder.ports(Service::Hydra, ports);
            for (key, value) in env {
                builder = builder.env(Service::Hydra, key, value);
            }
        }
        builder
    }
}
